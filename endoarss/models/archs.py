"""Multi-task architectures: single-task / HPS, TESLA, MMoE and DSelect-k over one shared contract.

``model(images) -> {task: logits}``; ``shared_parameters()`` / ``task_parameters()`` partition the
trainable parameters (what the loss weightings need); ``trainable_state_dict()`` is what checkpoints
store (the frozen DINOv2 weights come back from ``weights``/``backbone_config`` via ``model.config``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from endoarss.errors import CheckpointError, ConfigError
from endoarss.models.backbones import DinoBackbone
from endoarss.models.conv_tesla import ResNetTeslaBackbone
from endoarss.models.tesla import TaskRouter


class MultiTaskModel(nn.Module):
    """Base: a feature extractor per task plus one head per task (``heads`` keyed by task name)."""

    def __init__(self, tasks: list[str], heads: nn.ModuleDict) -> None:
        super().__init__()
        self.tasks: list[str] = list(tasks)
        self.heads = heads
        self.config: dict[str, Any] = {}

    @classmethod
    def from_options(
        cls, tasks: list[str], extractor: nn.Module, heads: nn.ModuleDict, opts: dict[str, Any]
    ) -> MultiTaskModel:
        """Build from ``create_model``'s resolved options (``endoarss.models.registry.ARCHS``)."""
        del opts  # the plain architectures take no options of their own
        return cls(tasks, extractor, heads)

    def task_features(self, images: Tensor) -> dict[str, Tensor]:
        """(B, C, h, w) features each task's head reads."""
        raise NotImplementedError

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        size = (images.shape[-2], images.shape[-1])
        features = self.task_features(images)
        return {t: self.heads[t](features[t], size) for t in self.tasks}

    def _task_owned(self, task: str) -> list[nn.Parameter]:
        """Parameters used by ``task`` only, besides its head (adapters, gates); none by default."""
        del task
        return []

    def task_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters used by one task only: its head, its TESLA adapter, its gate."""
        owned = {t: list(self.heads[t].parameters()) + self._task_owned(t) for t in self.tasks}
        return {t: [p for p in params if p.requires_grad] for t, params in owned.items()}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters used by every task (never the frozen backbone)."""
        owned = {id(p) for params in self.task_parameters().values() for p in params}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in owned]

    def _trainable_keys(self) -> set[str]:
        keys = {n for n, p in self.named_parameters() if p.requires_grad}
        return keys | {n for n, _ in self.named_buffers()}

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Trainable parameters + buffers (BN running stats): what a checkpoint stores."""
        keys = self._trainable_keys()
        return {k: v.detach() for k, v in self.state_dict().items() if k in keys}

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load what :meth:`trainable_state_dict` produced; strict on exactly those keys and shapes."""
        expected = self._trainable_keys() & set(self.state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise CheckpointError(f"trainable state mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
        current = self.state_dict()
        wrong = [k for k in state if tuple(state[k].shape) != tuple(current[k].shape)]
        if wrong:
            k = wrong[0]
            raise CheckpointError(f"shape mismatch for {k}: {tuple(state[k].shape)} vs {tuple(current[k].shape)}")
        self.load_state_dict(state, strict=False)


class HPSModel(MultiTaskModel):
    """Hard parameter sharing: one backbone, one head per task (single-task = one task)."""

    def __init__(self, tasks: list[str], backbone: nn.Module, heads: nn.ModuleDict) -> None:
        super().__init__(tasks, heads)
        self.backbone = backbone

    def task_features(self, images: Tensor) -> dict[str, Tensor]:
        features = self.backbone(images)
        return dict.fromkeys(self.tasks, features)


class TeslaModel(MultiTaskModel):
    """TESLA: one low-rank adapter per task on a shared backbone, all tasks in one batched pass.

    DINOv2: frozen weights + shared LoRA + per-task linear adapters on q/v. ResNet: fine-tuned
    weights + per-task conv adapters on the 3x3 convs (see ``conv_tesla``).
    ``mode="batched"`` (default for ResNet) concatenates the T copies of the batch; ``mode="loop"`` runs the
    backbone once per task (reference implementation, same result up to rounding); ``mode="split"``
    (DINOv2 only; its default) embeds once (SMA included) and runs the layers once per task. Split is what the
    gradient weightings want: their T per-task backward passes then each traverse one task's layers,
    where in the batched graph every pass also back-propagates (zeros) through the other T - 1 copies.
    """

    def __init__(
        self, tasks: list[str], backbone: DinoBackbone | ResNetTeslaBackbone, heads: nn.ModuleDict, router: str = "task"
    ) -> None:
        super().__init__(tasks, heads)
        self.backbone = backbone
        self.router = TaskRouter(len(tasks), backbone.num_adapters, router)
        # split for DINOv2: the same maths, ~7x faster CPU step under DB-MTL at 224 px (benchmarks/train_step.py)
        self.mode = "split" if isinstance(backbone, DinoBackbone) else "batched"

    @classmethod
    def from_options(
        cls, tasks: list[str], extractor: nn.Module, heads: nn.ModuleDict, opts: dict[str, Any]
    ) -> TeslaModel:
        return cls(tasks, extractor, heads, opts["router"])

    def _task_owned(self, task: str) -> list[nn.Parameter]:
        t = self.tasks.index(task)
        if self.router.mode == "task":
            return self.backbone.adapter_parameters(t)
        return [self.router.logits[t]]  # learned mixing: adapters are shared, the mixing row is not

    def task_features(self, images: Tensor) -> dict[str, Tensor]:
        n_tasks = len(self.tasks)
        if self.mode == "loop":
            out = {}
            for t, task in enumerate(self.tasks):
                index = self.router.index([t], images.device)
                out[task] = self.backbone(images, 1, index, self.router.weights([t]))
            return out
        if self.mode == "split" and isinstance(self.backbone, DinoBackbone):
            hidden, out = self.backbone.embed(images), {}
            for t, task in enumerate(self.tasks):
                index = self.router.index([t], images.device)
                tokens = self.backbone.encode(hidden, 1, index, self.router.weights([t]))
                out[task] = self.backbone.feature_map(tokens, images)
            return out
        features = self.backbone(images, n_tasks, None, self.router.weights())
        return dict(zip(self.tasks, features.chunk(n_tasks), strict=True))


class _GatedExperts(MultiTaskModel):
    """Shared machinery of MMoE and DSelect-k: E experts, a per-task gate over a pooled image.

    With DINOv2 the experts are the routed adapters of ONE frozen backbone (run as E groups of one
    batched pass); with ResNet they are E independent networks (``experts`` ModuleList).
    """

    def __init__(
        self,
        tasks: list[str],
        experts: DinoBackbone | nn.ModuleList,
        heads: nn.ModuleDict,
        num_experts: int,
        gate_pool: int,
    ) -> None:
        super().__init__(tasks, heads)
        if num_experts < 1 or gate_pool < 1:
            raise ConfigError(f"need num_experts >= 1 and gate_pool >= 1, got {num_experts}, {gate_pool}")
        self.experts = experts
        self.num_experts = num_experts
        self.gate_pool = gate_pool
        self.gate_in = 3 * gate_pool * gate_pool

    def gate_input(self, images: Tensor) -> Tensor:
        """Flattened downsampled image (B, 3*pool*pool): the gates' input."""
        return F.adaptive_avg_pool2d(images, self.gate_pool).flatten(1)

    def gate_weights(self, images: Tensor) -> dict[str, Tensor]:
        """(B, E) expert weights per task."""
        raise NotImplementedError

    def expert_features(self, images: Tensor) -> Tensor:
        """(E, B, C, h, w) output of every expert."""
        if isinstance(self.experts, DinoBackbone):
            features = self.experts(images, self.num_experts)
            return features.reshape(self.num_experts, images.shape[0], *features.shape[1:])
        return torch.stack([expert(images) for expert in self.experts])

    def task_features(self, images: Tensor) -> dict[str, Tensor]:
        experts = self.expert_features(images)
        gates = self.gate_weights(images)
        return {t: torch.einsum("be,ebchw->bchw", gates[t], experts) for t in self.tasks}


class MMoEModel(_GatedExperts):
    """MMoE (Ma et al. 2018): per task softmax(Linear(pooled image)) over the E experts."""

    def __init__(
        self,
        tasks: list[str],
        experts: DinoBackbone | nn.ModuleList,
        heads: nn.ModuleDict,
        num_experts: int = 4,
        gate_pool: int = 32,
    ) -> None:
        super().__init__(tasks, experts, heads, num_experts, gate_pool)
        self.gates = nn.ModuleDict({t: nn.Linear(self.gate_in, num_experts) for t in tasks})

    @classmethod
    def from_options(
        cls, tasks: list[str], extractor: nn.Module, heads: nn.ModuleDict, opts: dict[str, Any]
    ) -> MMoEModel:
        return cls(tasks, extractor, heads, opts["num_experts"], opts["gate_pool"])

    def _task_owned(self, task: str) -> list[nn.Parameter]:
        return list(self.gates[task].parameters())

    def gate_weights(self, images: Tensor) -> dict[str, Tensor]:
        x = self.gate_input(images)
        return {t: self.gates[t](x).softmax(dim=-1) for t in self.tasks}


class DSelectKModel(_GatedExperts):
    """DSelect-k (Hazimeh et al. 2021) as in LibMTL: k binary-encoded smooth-step selectors per task.

    Selector i gives q_i over the E experts from m = ceil(log2 E) smooth-step(gamma) bits; the mix is
    sum_i softmax(w)_i q_i. It sums to 1 when E is a power of two (otherwise some mass falls on
    non-existent codes, as in the reference implementation).
    """

    def __init__(
        self,
        tasks: list[str],
        experts: DinoBackbone | nn.ModuleList,
        heads: nn.ModuleDict,
        num_experts: int = 4,
        k: int = 2,
        gamma: float = 1.0,
        gate_pool: int = 32,
    ) -> None:
        super().__init__(tasks, experts, heads, num_experts, gate_pool)
        if k < 1 or gamma <= 0:
            raise ConfigError(f"DSelect-k needs k >= 1 and gamma > 0, got k={k}, gamma={gamma}")
        self.k, self.gamma = k, gamma
        self.num_bits = max(1, math.ceil(math.log2(num_experts)))
        self.z_logits = nn.ModuleDict({t: nn.Linear(self.gate_in, k * self.num_bits) for t in tasks})
        self.w_logits = nn.ModuleDict({t: nn.Linear(self.gate_in, k) for t in tasks})
        with torch.no_grad():  # LibMTL's init: selectors start near the middle of the smooth step
            for p in self.z_logits.parameters():
                p.uniform_(-gamma / 100, gamma / 100)
            for p in self.w_logits.parameters():
                p.uniform_(-0.05, 0.05)
        codes = [[(e >> (self.num_bits - 1 - b)) & 1 for b in range(self.num_bits)] for e in range(num_experts)]
        self.register_buffer("binary_codes", torch.tensor(codes, dtype=torch.bool), persistent=False)

    @classmethod
    def from_options(
        cls, tasks: list[str], extractor: nn.Module, heads: nn.ModuleDict, opts: dict[str, Any]
    ) -> DSelectKModel:
        return cls(tasks, extractor, heads, opts["num_experts"], opts["k"], opts["gamma"], opts["gate_pool"])

    def _task_owned(self, task: str) -> list[nn.Parameter]:
        return list(self.z_logits[task].parameters()) + list(self.w_logits[task].parameters())

    def smooth_step(self, t: Tensor) -> Tensor:
        """Cubic smooth step: 0 below -gamma/2, 1 above gamma/2, C1-smooth in between."""
        g = self.gamma
        cubic = (-2 / g**3) * t**3 + (1.5 / g) * t + 0.5
        return torch.where(t <= -g / 2, torch.zeros_like(t), torch.where(t >= g / 2, torch.ones_like(t), cubic))

    def gate_weights(self, images: Tensor) -> dict[str, Tensor]:
        x = self.gate_input(images)
        out = {}
        for t in self.tasks:
            bits = self.smooth_step(self.z_logits[t](x).reshape(-1, self.k, 1, self.num_bits))  # (B, k, 1, m)
            selectors = torch.where(self.binary_codes, bits, 1 - bits).prod(dim=3)  # (B, k, E)
            out[t] = torch.einsum("bk,bke->be", self.w_logits[t](x).softmax(dim=1), selectors)
        return out
