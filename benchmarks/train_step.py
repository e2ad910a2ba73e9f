"""Benchmark: CPU training step of the `endoarss` preset (DINOv2 + SMA + TESLA + DB-MTL), before vs after.

Prints one JSON line: img/s of the demo configs (``CONFIGS``: issue 19's demo, tiny DINOv2 at 112 px,
and today's ``endods demo``) and of ViT-S/14 at 224 px batch 8 (random weights, nothing downloaded),
each for the code at ``--before``
(a git revision, extracted with ``git archive`` into a temp dir) and for this checkout, alternated for
``--rounds`` rounds in the same invocation; each side keeps its fastest round, so both are judged at
the quietest moment a shared machine gave them. ``speedup`` = after / before per config;
``vs_before_demo`` = each config's after img/s over the before img/s of ``demo`` (issue 19's baseline).

Shares of the step (``shares``), each part timed alone on the same batch with as many backward passes
as the weighting makes (DB-MTL: one per task): ``backbone`` = the DINOv2 + LoRA/TESLA feature pass with
the SMA block removed, ``sma`` = what putting SMA back adds to that pass, ``heads`` = the task heads with
their losses, ``weighting`` = the rest of the step (DB-MTL's gradient algebra, the optimizer, bookkeeping).

``--demo`` adds what a demo user sees (``demo_training``): each tree's own ``endods demo`` (its own demo
config and trainer, data loading included) runs once per round, and its trainer's ``throughput_img_s``
(training loop only, evaluation excluded; the median over the epochs after the first, which warms up)
is reported for both sides.

    python benchmarks/train_step.py [--before ae6b711] [--steps 3] [--rounds 2] [--configs demo,vits] [--demo]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name: (backbone size, image px, batch, model options). "demo" is the demo of issue 19 as it trained then
# (tiny DINOv2, 112 px, batch 8, SMA d = 64 and 256-channel heads, the defaults of that time), so
# --before ae6b711 (the commit before the first step-time change) measures the baseline on the
# same model. "demo_d16" is that demo at today's default SMA width; "demo_now" is what `endods demo`
# trains today (cli/demo.py: SMA d = 4, 64-channel heads, batch 4).
CONFIGS: dict[str, tuple[str, int, int, dict]] = {
    "demo": ("tiny", 112, 8, {"sma_dim": 64, "head_channels": 256}),
    "demo_d16": ("tiny", 112, 8, {"sma_dim": 16, "head_channels": 256}),
    "demo_now": ("tiny", 112, 4, {"sma_dim": 4, "head_channels": 64}),
    "vits": ("small", 224, 8, {}),
}


def _timed(fn, repeats: int) -> float:
    """Fastest of ``repeats`` calls after a warm-up: on a shared machine the minimum is the least noisy."""
    fn()  # warm-up: allocator, oneDNN kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, steps: int) -> dict[str, float]:
    """img/s and part shares of one config with the code on sys.path (this checkout or --before)."""
    import torch
    import torch.nn.functional as F

    from endoarss.models import backbone_config_for, create_model
    from endoarss.weighting import build_weighting

    size, image, batch, options = CONFIGS[name]
    torch.manual_seed(0)
    model = create_model("dinov2", "tesla", sma=True, backbone_config=backbone_config_for("dinov2", size),
                         image_size=image, num_activities=12, num_classes=8, **options).train()  # fmt: skip
    weighting = build_weighting("db_mtl", 2)
    shared, owned = model.shared_parameters(), model.task_parameters()
    task_params = [owned[t] for t in model.tasks]
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    images = torch.randn(batch, 3, image, image)
    activity, masks = torch.randint(0, 12, (batch,)), torch.randint(0, 8, (batch, image, image))

    def losses_of(out: dict) -> torch.Tensor:
        return torch.stack([F.cross_entropy(out["activity"], activity), F.cross_entropy(out["segmentation"], masks)])

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        weighting.backward(losses_of(model(images)), shared, task_params, 0)
        optimizer.step()

    def backbone_part() -> None:
        feats = model.task_features(images)
        for t, task in enumerate(model.tasks):
            torch.autograd.grad(feats[task].square().mean(), shared + task_params[t], retain_graph=t == 0,
                                allow_unused=True)  # fmt: skip

    with torch.no_grad():
        features = {t: f.detach() for t, f in model.task_features(images).items()}

    def heads_part() -> None:
        out = {t: model.heads[t](features[t], (image, image)) for t in model.tasks}
        losses_of(out).sum().backward()

    t_step = _timed(step, steps)
    t_features = _timed(backbone_part, steps)
    sma, model.backbone.sma = model.backbone.sma, None  # the same feature pass without the SMA block
    t_backbone = _timed(backbone_part, steps)
    model.backbone.sma = sma
    t_sma = t_features - t_backbone
    t_heads = _timed(heads_part, steps)
    parts = {"sma": t_sma, "backbone": t_backbone, "heads": t_heads}
    parts["weighting"] = max(0.0, t_step - sum(parts.values()))
    return {"img_per_s": round(batch / t_step, 3), "step_s": round(t_step, 3),
            "shares": {k: round(v / t_step, 3) for k, v in parts.items()}}  # fmt: skip


def _run_tree(tree: Path, names: list[str], steps: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = (f"import json, sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); "
            f"import train_step as b; print(json.dumps({{n: b.measure(n, {steps}) for n in {names!r}}}))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"benchmark in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def demo_training(tree: Path, out: Path) -> dict[str, float]:
    """Run ``endods demo`` of the code in ``tree``; the trainer's training img/s and the demo's wall time."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = "import sys; from cli.main import app; sys.argv = ['endods', 'demo', '--out', sys.argv[1]]; app()"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(out)], env=env, cwd=tree, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"endods demo in {tree} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    lines = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = sorted(line["throughput_img_s"] for line in lines[1:] if line.get("throughput_img_s"))
    return {"img_per_s": round(rates[len(rates) // 2], 2), "epochs": len(lines),
            "demo_wall_s": round(time.perf_counter() - start, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="git revision to compare against (default: none)")
    parser.add_argument(
        "--steps", type=int, default=3, help="timed repeats per part after one warm-up (the fastest counts)"
    )
    parser.add_argument("--configs", default="demo,demo_d16,demo_now,vits", help="comma list of: " + ", ".join(CONFIGS))
    parser.add_argument("--rounds", type=int, default=2, help="before/after alternations; the fastest counts")
    parser.add_argument("--demo", action="store_true", help="also time each tree's `endods demo` training (~2 min)")
    args = parser.parse_args()
    names = [n for n in args.configs.split(",") if n]
    result: dict = {"threads": __import__("torch").get_num_threads(), "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after": ROOT}
        if args.before:
            archive = subprocess.run(["git", "archive", args.before, "endoarss", "schemas", "endods", "cli"], cwd=ROOT,
                                     capture_output=True, check=True).stdout  # fmt: skip
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees = {"before": Path(tmp), "after": ROOT}
        best: dict[str, dict] = {side: {} for side in trees}
        demo: dict[str, dict] = {}
        for round_ in range(max(1, args.rounds)):
            for side, tree in trees.items():
                if args.demo:
                    measured = demo_training(tree, Path(tmp) / f"demo-{side}-{round_}")
                    if side not in demo or measured["img_per_s"] > demo[side]["img_per_s"]:
                        demo[side] = measured
                for name, measured in _run_tree(tree, names, args.steps).items():
                    if name not in best[side] or measured["img_per_s"] > best[side][name]["img_per_s"]:
                        best[side][name] = measured
    if args.before:
        result["before"] = {"revision": args.before, **best["before"]}
    result["after"] = best["after"]
    if args.before:
        result["speedup"] = {n: round(result["after"][n]["img_per_s"] / result["before"][n]["img_per_s"], 2)
                             for n in names}  # fmt: skip
        if "demo" in names:  # every config's img/s against the demo before: what a demo user sees
            base = result["before"]["demo"]["img_per_s"]
            result["vs_before_demo"] = {n: round(result["after"][n]["img_per_s"] / base, 2) for n in names}
    if demo:
        result["demo_training"] = demo
        if "before" in demo:
            result["demo_training"]["speedup"] = round(demo["after"]["img_per_s"] / demo["before"]["img_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
