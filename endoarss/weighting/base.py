"""Common machinery of the loss-weighting methods (docs/model.md "Weightings").

Every method has the same contract so the trainer never special-cases one:
``backward(losses, shared_params, task_params, epoch)`` fills ``.grad`` of exactly the parameters it is
given and returns the task weights it applied. Gradients are **accumulated** into ``.grad`` (added to an
existing tensor, set when it is ``None``), as ``loss.backward()`` would do; the trainer zeroes them before
each step. The autograd graph of ``losses`` is freed by the call, again like ``loss.backward()``.

Gradient-manipulation methods (DB-MTL, MoCo, Aligned-MTL) need one gradient per task over the shared
parameters. They are taken with ``torch.autograd.grad`` over the given (trainable) shared parameters only,
flattened into one ``(T, D)`` matrix: one row per task, so a DDP trainer can all-reduce the whole matrix
with one collective through :attr:`Weighting.grad_reducer` before the method combines the rows, which
keeps every rank's weights identical.

State (step counter, EMA buffers, ...) is exposed as ``dict[str, torch.Tensor]`` so that it can be saved
with ``safetensors`` as it is; integers are 0-d ``int64`` tensors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch.autograd.graph import GradientEdge

from endoarss.errors import CheckpointError, ConfigError

StateDict = dict[str, torch.Tensor]
GradReducer = Callable[[torch.Tensor], torch.Tensor]


class WeightingConfigError(ConfigError, ValueError):
    """Unknown weighting name or hyperparameter, a value out of range, or inputs of the wrong shape.

    Also a ``ValueError`` so callers that only know the builtin hierarchy can still catch it.
    """


class WeightingStateError(CheckpointError, RuntimeError):
    """The weighting's state does not fit the call (resumed without state, wrong task count or size)."""


def compute_dtype(params: Sequence[torch.Tensor]) -> torch.dtype:
    """Dtype for the gradient algebra: the widest parameter dtype, but never below float32.

    Why: norms, eigendecompositions and EMAs in bf16/fp16 lose too much precision.
    """
    dtype = torch.float32
    for p in params:
        dtype = torch.promote_types(dtype, p.dtype)
    return dtype


def grads_or_zeros(
    output: torch.Tensor | GradientEdge | None,
    inputs: Sequence[torch.Tensor],
    retain_graph: bool,
    grad_output: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """``d output / d inputs`` (``output`` a tensor or an autograd edge fed ``grad_output``); inputs not
    reached by ``output`` get zeros instead of ``None``."""
    if not inputs:
        return []
    if output is None or (isinstance(output, torch.Tensor) and not output.requires_grad):
        return [torch.zeros_like(p) for p in inputs]
    grads = torch.autograd.grad(
        output, list(inputs), grad_outputs=grad_output, retain_graph=retain_graph, allow_unused=True
    )
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, inputs, strict=True)]


def flatten(tensors: Sequence[torch.Tensor], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Concatenate tensors into one 1-D vector (empty vector for an empty list)."""
    if not tensors:
        return torch.zeros(0, dtype=dtype, device=device)
    return torch.cat([t.reshape(-1).to(dtype) for t in tensors])


def accumulate_grads(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Add the slices of ``flat`` to ``.grad`` of ``params`` in order (set when ``.grad`` is None)."""
    offset = 0
    for p in params:
        n = p.numel()
        g = flat[offset : offset + n].reshape(p.shape).to(p.dtype)
        offset += n
        if p.grad is None:
            p.grad = g.detach().clone()
        else:
            p.grad.add_(g.detach())
    if offset != flat.numel():
        raise WeightingStateError(f"gradient vector has {flat.numel()} entries, parameters need {offset}")


def _stacked_task_losses(losses: torch.Tensor, num_tasks: int) -> list[GradientEdge | None] | None:
    """The autograd edges into each task's own loss when ``losses`` is ``torch.stack`` of scalars, else None.

    Why: ``objective(losses)[t]`` reaches every task's loss through the stack, so a backward pass from
    it also runs all the other tasks' heads (and their full-resolution losses) on zero gradients. Started
    at task t's own loss, the pass touches only what that loss depends on; the numbers are the same,
    since the skipped branches contribute exact zeros.
    """
    node = losses.grad_fn
    if node is None or type(node).__name__ != "StackBackward0" or len(node.next_functions) != num_tasks:
        return None
    return [None if edge is None else GradientEdge(edge, nr) for edge, nr in node.next_functions]


def _local_slopes(losses: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """``d objective(L_t) / d L_t`` for every task at once (``objective`` is elementwise), by autograd on
    a detached copy: the same backward formula the graph would apply."""
    leaf = losses.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = leaf if objective is None else objective(leaf)
        (slopes,) = torch.autograd.grad(out.sum(), leaf)
    return slopes


class Weighting(ABC):
    """Abstract loss weighting; subclasses implement :meth:`_backward` and their extra state.

    ``step`` is the counter k of docs/model.md "Weightings": 0 before the first call, 1 during the first ``backward``.
    """

    name: ClassVar[str]

    def __init__(self, num_tasks: int) -> None:
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
            raise WeightingConfigError(f"num_tasks must be a positive int, got {num_tasks!r}")
        self.num_tasks = num_tasks
        self.step = 0
        # Called on every gradient tensor (and on the detached losses) before it is used; a DDP
        # trainer sets it to an all-reduce mean so all ranks see the global-batch gradients.
        self.grad_reducer: GradReducer | None = None

    # ------------------------------------------------------------------ public API
    def backward(
        self,
        losses: torch.Tensor,
        shared_params: Sequence[torch.Tensor],
        task_params: Sequence[Sequence[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor:
        """Fill ``.grad`` of all given parameters; return the detached ``(T,)`` task weights applied."""
        shared, tasks = self._check_inputs(losses, shared_params, task_params, epoch)
        self.step += 1
        return self._backward(losses, shared, tasks, epoch).detach()

    def hparams(self) -> dict[str, float | int]:
        """Hyperparameters as plain values (for logging and the resolved config)."""
        return {}

    def state_dict(self) -> StateDict:
        """Everything needed for exact resume, as tensors (safetensors-ready)."""
        state: StateDict = {
            "num_tasks": torch.tensor(self.num_tasks, dtype=torch.int64),
            "step": torch.tensor(self.step, dtype=torch.int64),
        }
        state.update({k: v.detach().clone() for k, v in self._extra_state().items()})
        return state

    def load_state_dict(self, state: StateDict) -> None:
        """Restore :meth:`state_dict` output; a different task count or unknown key is an error."""
        keys = set(state)
        allowed = {"num_tasks", "step"} | set(self._extra_state_keys())
        if not {"num_tasks", "step"} <= keys or not keys <= allowed:
            raise WeightingStateError(
                f"{self.name} state keys {sorted(keys)} do not match the expected {sorted(allowed)}"
            )
        if int(state["num_tasks"]) != self.num_tasks:
            raise WeightingStateError(
                f"{self.name} state is for {int(state['num_tasks'])} tasks, this weighting has {self.num_tasks}"
            )
        self.step = int(state["step"])
        self._load_extra_state({k: v.detach().clone() for k, v in state.items() if k not in {"num_tasks", "step"}})

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _backward(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        epoch: int,
    ) -> torch.Tensor: ...

    def _extra_state(self) -> StateDict:
        return {}

    def _extra_state_keys(self) -> tuple[str, ...]:
        return ()

    def _load_extra_state(self, state: StateDict) -> None:
        return None

    # ------------------------------------------------------------------ helpers for subclasses
    def _reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor if self.grad_reducer is None else self.grad_reducer(tensor)

    def _apply_loss_weights(
        self,
        losses: torch.Tensor,
        weights: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
    ) -> None:
        """Backpropagate ``sum_t weights[t] * losses[t]`` into every given parameter in one pass."""
        params = shared + [p for ps in tasks for p in ps]
        grads = grads_or_zeros((weights.detach() * losses).sum(), params, retain_graph=False)
        dtype = compute_dtype(params)
        accumulate_grads(params, self._reduce(flatten(grads, dtype, losses.device)))

    def _task_grads(
        self,
        losses: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
        objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-task gradients of ``objective(losses)[t]``: the ``(T, D)`` shared matrix and each task's own part.

        ``objective`` is elementwise (identity when ``None``; DB-MTL passes ``log(L + eps)``). One autograd
        pass per task covers both the shared parameters and that task's own parameters, so the
        task-specific gradients come for free. Returns ``(G, own)`` where ``own`` is the concatenation, in
        task order, of every task's own-parameter gradient (already reduced).
        """
        all_params = shared + [p for ps in tasks for p in ps]
        dtype = compute_dtype(all_params)
        device = losses.device
        roots = _stacked_task_losses(losses, self.num_tasks)
        if roots is None:
            objectives = losses if objective is None else objective(losses)
            starts = [(objectives[t], None) for t in range(self.num_tasks)]
        else:
            slopes = _local_slopes(losses, objective)
            starts = [(roots[t], slopes[t]) for t in range(self.num_tasks)]
        rows, own = [], []
        for t, (start, slope) in enumerate(starts):
            grads = grads_or_zeros(start, shared + tasks[t], t < self.num_tasks - 1, grad_output=slope)
            rows.append(flatten(grads[: len(shared)], dtype, device))
            own.append(flatten(grads[len(shared) :], dtype, device))
        return self._reduce(torch.stack(rows)), self._reduce(torch.cat(own))

    def _write_combined(
        self,
        shared_grad: torch.Tensor,
        own: torch.Tensor,
        shared: list[torch.Tensor],
        tasks: list[list[torch.Tensor]],
    ) -> None:
        accumulate_grads(shared + [p for ps in tasks for p in ps], torch.cat([shared_grad, own.to(shared_grad)]))

    def _check_inputs(
        self,
        losses: torch.Tensor,
        shared_params: Sequence[torch.Tensor],
        task_params: Sequence[Sequence[torch.Tensor]],
        epoch: int,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        if not isinstance(losses, torch.Tensor) or losses.shape != (self.num_tasks,):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise WeightingConfigError(f"{self.name}: losses must have shape ({self.num_tasks},), got {shape}")
        if len(task_params) != self.num_tasks:
            raise WeightingConfigError(
                f"{self.name}: task_params needs one list per task ({self.num_tasks}), got {len(task_params)}"
            )
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise WeightingConfigError(f"{self.name}: epoch must be a non-negative int, got {epoch!r}")
        shared = list(shared_params)
        tasks = [list(ps) for ps in task_params]
        seen: set[int] = set()
        for where, params in [("shared_params", shared)] + [(f"task_params[{t}]", ps) for t, ps in enumerate(tasks)]:
            for i, p in enumerate(params):
                if not p.requires_grad:
                    raise WeightingConfigError(
                        f"{self.name}: {where}[{i}] (shape {tuple(p.shape)}) does not require grad; "
                        "pass trainable parameters only"
                    )
                if id(p) in seen:
                    raise WeightingConfigError(f"{self.name}: {where}[{i}] is listed twice")
                seen.add(id(p))
        return shared, tasks
