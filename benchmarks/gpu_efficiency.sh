#!/usr/bin/env bash
# Efficiency bench for a lent GPU box (Python 3.12, torch, transformers preinstalled; no network, no
# installs). Runs from the working tree with PYTHONPATH=. and only needs torch/transformers/safetensors/
# numpy: it calls `benchmarks/efficiency.py`, never the CLI. Writes one JSON file per step under
# $OUT (default ./gpu-results) and finishes in < 6 min (a `timeout` per step; a step that fails or times
# out is recorded in summary.txt and the others still run).
#
#   bash benchmarks/gpu_efficiency.sh                       # cuda, ViT-B size, batch 16, 224x224, bf16
#   DEVICE=cpu SIZE=tiny BATCH=2 IMAGE=56 bash benchmarks/gpu_efficiency.sh   # CPU smoke test
# Knobs (env): SIZE BATCH IMAGE AMP REPEATS WARMUP OUT PYTHON E2E_BATCH E2E_WORKERS E2E_FRAMES E2E_PASSES; ABLATE_ONLY=amp,sdpa restricts the
# ablation; ABLATE_COMPILE=0/1 (default 1 on cuda, 0 on cpu where inductor compiles take minutes).
set -u
DEVICE="${1:-${DEVICE:-cuda}}"
SIZE="${SIZE:-base}"
BATCH="${BATCH:-16}"
IMAGE="${IMAGE:-224}"
AMP="${AMP:-bf16}"
REPEATS="${REPEATS:-10}"
WARMUP="${WARMUP:-3}"
OUT="${OUT:-./gpu-results}"
ABLATE_ONLY="${ABLATE_ONLY:-}"
if [ "$DEVICE" = cuda ]; then ABLATE_COMPILE="${ABLATE_COMPILE:-1}"; else ABLATE_COMPILE="${ABLATE_COMPILE:-0}"; fi
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
: >"$OUT/summary.txt"

echo "== environment (device=$DEVICE size=$SIZE batch=$BATCH image=$IMAGE amp=$AMP repeats=$REPEATS)"
if [ "$DEVICE" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
fi
"$PYTHON" - <<'PY' 2>&1 | tee "$OUT/versions.json"
import json, platform, sys
import numpy, safetensors, torch, transformers
cuda = torch.cuda.is_available()
print(json.dumps({"python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
                  "transformers": transformers.__version__, "safetensors": safetensors.__version__,
                  "numpy": numpy.__version__, "cuda": torch.version.cuda if cuda else None,
                  "gpu": torch.cuda.get_device_name(0) if cuda else None, "threads": torch.get_num_threads()}))
PY

# step NAME SECONDS COMMAND...: run with a time limit; stdout's last line (the JSON) goes to $OUT/NAME.json
step() {
    local name="$1" limit="$2"
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>"$OUT/$name.err"
    local rc=$?
    tail -n 1 "$OUT/$name.log" >"$OUT/$name.json"
    echo "$name rc=$rc seconds=$((SECONDS - start))" | tee -a "$OUT/summary.txt"
    [ "$rc" -eq 0 ] || tail -n 5 "$OUT/$name.err"
}

COMMON=(--backbone-size "$SIZE" --batch "$BATCH" --image-size "$IMAGE" --device "$DEVICE" --amp "$AMP"
    --warmup "$WARMUP" --repeats "$REPEATS")
ABLATE=(--ablate --no-ablate-compile ${ABLATE_ONLY:+--only "$ABLATE_ONLY"})
step efficiency_endoarss 110 "$PYTHON" benchmarks/efficiency.py --preset endoarss "${COMMON[@]}" "${ABLATE[@]}"
step efficiency_dinov2-hps-ew 80 "$PYTHON" benchmarks/efficiency.py --preset dinov2-hps-ew "${COMMON[@]}" "${ABLATE[@]}"
# torch.compile is its own step so a slow or failing compile cannot cost the other results.
if [ "$ABLATE_COMPILE" = 1 ]; then
    step efficiency_endoarss_compile 100 "$PYTHON" benchmarks/efficiency.py --preset endoarss "${COMMON[@]}" \
        --ablate --only compile --ablate-compile
else
    echo "efficiency_endoarss_compile skipped (ABLATE_COMPILE=0)" | tee -a "$OUT/summary.txt"
fi
# End-to-end with real data loading (issue 20): real-size frames built here, read through the decoded-sample
# cache by $E2E_WORKERS DataLoader workers; loader img/s vs model img/s vs both at batch $E2E_BATCH. Needs
# opencv, datasets, pyarrow and deflate besides the above; where they are missing the step fails and is recorded.
E2E_WORKERS="${E2E_WORKERS:-$(nproc)}"
step loader_e2e 170 "$PYTHON" benchmarks/loader_throughput.py --e2e-only --device "$DEVICE" --amp "$AMP" \
    --batch "${E2E_BATCH:-64}" --workers "$E2E_WORKERS" --backbone-size "$SIZE" --image-size "$IMAGE" \
    --frames "${E2E_FRAMES:-96}" --passes "${E2E_PASSES:-3}"
step tesla_batched 40 "$PYTHON" benchmarks/tesla_batched.py --device "$DEVICE" --size "$SIZE" --batch "$BATCH" --repeats "$REPEATS"
echo "== done: results in $OUT"
cat "$OUT/summary.txt"
