"""Two-task toy problem with hand-derived gradients, shared by the weighting tests.

Shared parameters: ``x`` (2,), ``s`` (scalar) and ``z`` (3,, reached by no loss).
Task parameters: ``a`` for task 0; ``b`` and ``u`` (reached by no loss) for task 1.

    L0 = (a (x0 + 2 x1) + s - 1)^2          L1 = (b (3 x0 - x1) - s - 2)^2

The expected gradients below are written out by hand (chain rule), never taken from autograd, so
the tests compare the implementation against an independent derivation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Parameter values of successive steps (as if an optimizer had moved them).
STEPS = [
    {"x": (0.5, -0.3), "s": 0.2, "a": 1.5, "b": -0.7},
    {"x": (0.4, -0.1), "s": 0.1, "a": 1.2, "b": -0.9},
    {"x": (0.9, 0.3), "s": -0.4, "a": 0.8, "b": 1.1},
    {"x": (-0.2, 0.6), "s": 0.3, "a": 2.0, "b": 0.5},
]
# A point where both losses (hence all gradients) are exactly zero: r0 = r1 = 0.
ZERO = {"x": (1.0, 0.0), "s": 0.0, "a": 1.0, "b": 2.0 / 3.0}


@dataclass
class Toy:
    """Torch side: parameters, losses and the gradients the weighting wrote."""

    x: torch.Tensor
    s: torch.Tensor
    z: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    u: torch.Tensor

    def losses(self) -> torch.Tensor:
        l0 = (self.a * (self.x[0] + 2 * self.x[1]) + self.s - 1) ** 2
        l1 = (self.b * (3 * self.x[0] - self.x[1]) - self.s - 2) ** 2
        return torch.stack([l0, l1])

    def shared(self) -> list[torch.Tensor]:
        return [self.x, self.s, self.z]

    def tasks(self) -> list[list[torch.Tensor]]:
        return [[self.a], [self.b, self.u]]

    def shared_grad(self) -> np.ndarray:
        return np.concatenate([p.grad.detach().reshape(-1).double().numpy() for p in self.shared()])

    def own_grad(self) -> np.ndarray:
        params = [p for ps in self.tasks() for p in ps]
        return np.concatenate([p.grad.detach().reshape(-1).double().numpy() for p in params])


def make_toy(values: dict, dtype: torch.dtype = torch.float64) -> Toy:
    def param(v: object) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, requires_grad=True)

    return Toy(
        x=param(values["x"]),
        s=param(values["s"]),
        z=param([0.3, -0.2, 0.1]),
        a=param(values["a"]),
        b=param(values["b"]),
        u=param(0.7),
    )


@dataclass
class Hand:
    """Numpy side: losses (2,), shared gradients G (2, 6) and own gradients (2, 3) per task.

    ``own[t]`` is laid out like ``Toy.own_grad()`` (a, b, u) with zeros outside task t.
    """

    losses: np.ndarray
    G: np.ndarray
    own: np.ndarray


def hand(values: dict) -> Hand:
    x0, x1 = values["x"]
    s, a, b = values["s"], values["a"], values["b"]
    r0 = a * (x0 + 2 * x1) + s - 1
    r1 = b * (3 * x0 - x1) - s - 2
    G = np.array(
        [
            [2 * r0 * a, 4 * r0 * a, 2 * r0, 0.0, 0.0, 0.0],
            [6 * r1 * b, -2 * r1 * b, -2 * r1, 0.0, 0.0, 0.0],
        ]
    )
    own = np.array(
        [
            [2 * r0 * (x0 + 2 * x1), 0.0, 0.0],
            [0.0, 2 * r1 * (3 * x0 - x1), 0.0],
        ]
    )
    return Hand(losses=np.array([r0**2, r1**2]), G=G, own=own)
