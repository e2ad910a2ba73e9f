"""MoCo (Fernando et al. ICLR 2023, "Mitigating Gradient Bias in Multi-objective Learning"), LibMTL semantics.

Stochastic MGDA-style weights are biased because they are computed from one noisy mini-batch; MoCo
tracks each task's (loss-scaled, normalised) gradient with a momentum estimate ``y`` and updates the
task weights ``lambda`` by one projected-gradient step per iteration instead of solving the min-norm
problem afresh.
"""

from __future__ import annotations

import torch

from endoarss.weighting.base import StateDict, Weighting, WeightingConfigError, WeightingStateError

_NORM_EPS = 1e-8


class MoCo(Weighting):
    """Shared grad ``y^T lambda``; the returned weights are ``lambda``.

    ``g^_t = g_t / (|g_t| + 1e-8) * L_t``; ``y <- y - beta k**-beta_sigma (y - g^)`` (``y`` starts at 0);
    ``lambda <- softmax(lambda - gamma k**-gamma_sigma (y y^T + rho I) lambda)`` (starts uniform).
    Task-specific parameters get ``grad sum_t L_t``.
    """

    name = "moco"

    def __init__(
        self,
        num_tasks: int,
        beta: float = 0.5,
        beta_sigma: float = 0.5,
        gamma: float = 0.1,
        gamma_sigma: float = 0.5,
        rho: float = 0.0,
    ) -> None:
        super().__init__(num_tasks)
        for key, value in {
            "beta": beta,
            "beta_sigma": beta_sigma,
            "gamma": gamma,
            "gamma_sigma": gamma_sigma,
            "rho": rho,
        }.items():
            if not float(value) >= 0.0:
                raise WeightingConfigError(f"moco: {key} must be >= 0, got {value!r}")
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.gamma = float(gamma)
        self.gamma_sigma = float(gamma_sigma)
        self.rho = float(rho)
        self.y: torch.Tensor | None = None
        self.lambd: torch.Tensor = torch.full((num_tasks,), 1.0 / num_tasks, dtype=torch.float64)

    def hparams(self) -> dict[str, float | int]:
        return {
            "beta": self.beta,
            "beta_sigma": self.beta_sigma,
            "gamma": self.gamma,
            "gamma_sigma": self.gamma_sigma,
            "rho": self.rho,
        }

    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        values = self._reduce(losses.detach().clone())
        grads, own = self._task_grads(losses, shared, tasks)
        scaled = grads / (grads.norm(dim=1, keepdim=True) + _NORM_EPS) * values.to(grads)[:, None]
        y = torch.zeros_like(grads) if self.y is None else self.y.to(grads)
        if y.shape != grads.shape:
            raise WeightingStateError(f"moco: y has shape {tuple(y.shape)}, gradients {tuple(grads.shape)}")
        y = y - self.beta / self.step**self.beta_sigma * (y - scaled)
        lambd = self.lambd.to(grads)
        curvature = y @ y.T + self.rho * torch.eye(self.num_tasks, dtype=grads.dtype, device=grads.device)
        lambd = torch.softmax(lambd - self.gamma / self.step**self.gamma_sigma * (curvature @ lambd), dim=-1)
        self.y, self.lambd = y, lambd
        self._write_combined(y.T @ lambd, own, shared, tasks)
        return lambd

    def _extra_state(self) -> StateDict:
        state: StateDict = {"lambd": self.lambd}
        if self.y is not None:
            state["y"] = self.y
        return state

    def _extra_state_keys(self) -> tuple[str, ...]:
        return ("lambd", "y")

    def _load_extra_state(self, state: StateDict) -> None:
        if "lambd" not in state or state["lambd"].shape != (self.num_tasks,):
            raise WeightingStateError(f"moco: state needs 'lambd' of shape ({self.num_tasks},)")
        self.lambd = state["lambd"]
        self.y = state.get("y")
