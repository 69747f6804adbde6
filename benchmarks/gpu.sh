#!/usr/bin/env bash
# The CUDA checks and benchmarks in one go, for a machine with a GPU:
#
#   bash benchmarks/gpu.sh [CIFAR-10 JPEG tar (default ../shared/data/cifar10-jpeg.tar.gz)] [OUT dir]
#
# Runs tests/test_cuda.py, the benchmarks with --device cuda (bench_fused.py: fused sweep training),
# and one run of the CIFAR-10 recipe
# of figures/data/cifar10-se-resnet20 per pool type (avg, mix, learned) for the time per run.
set -uo pipefail  # go on after a failure, so one broken check still leaves the others' figures
cd "$(dirname "$0")/.."
CIFAR=$(realpath "${1:-../shared/data/cifar10-jpeg.tar.gz}")
OUT=${2:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SPE="python3 -m spe_analysis"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py
tests=$?
python3 benchmarks/bench_pooling.py --device cuda --reps 50
for precision in fp32 bf16; do
    python3 benchmarks/bench_train_step.py --device cuda --reps 50 --precision "$precision"
done
python3 benchmarks/bench_train.py --device cuda --threads 4 --data "$CIFAR" --images 20000 --repeats 2 --workers 0 8
for pool in "avg" "mix --alpha 0.5 --beta 0.5" "learned"; do
    # shellcheck disable=SC2086  # $pool holds the pool's options
    $SPE train --dataset "imagefolder:$CIFAR" --model resnet20 --attention se --train-subset 20000 \
        --epochs 6 --precision bf16 --pool $pool --seed 0 --device cuda --out "$OUT/recipe" --quiet
done
python3 - "$OUT/recipe" <<'PY'
import sys
from datetime import datetime
from spe_analysis.records import load_records
for r in load_records(sys.argv[1]):
    c, m = r["config"], r["metrics"]
    wall = datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["started_at"])
    print(f"recipe on {r['env']['accelerator']}: pool {c['pool']} alpha {c['alpha']} beta {c['beta']}: "
          f"{m['final_test_acc']:.2f}% in {m['train_seconds']:.1f} s of training, {m['images_per_second']:.0f} img/s, "
          f"precision {r['env']['precision']}, {wall.total_seconds():.0f} s from start to record")
PY
python3 benchmarks/bench_fused.py --device cuda
python3 benchmarks/bench_workers.py --device cuda --dataset "imagefolder:$CIFAR" --train-subset 5000 --epochs 2 \
    --runs 8 --repeats 2 --per-gpu 4
exit $tests
