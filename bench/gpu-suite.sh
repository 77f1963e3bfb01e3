#!/usr/bin/env bash
# The performance section's GPU measurements in one go, for a machine with a real GPU:
# the adapter and its limits, the fused epoch's profile at 2^26 rows against the copy
# bandwidth, the peer table (PyTorch CUDA and JAX on the GPU where they see it), the
# scaling sweep to 2^28 rows, wider nets (the fused and tiled paths, against the copy
# bandwidth and the multiply-add yardstick, and their peer tables), and population
# training at a million networks. Each stage is time-boxed, so one slow stage costs only itself.
#
#   cargo build --release && bench/gpu-suite.sh target/release/xorgpu results/gpu
set -uo pipefail
bin=${1:?usage: bench/gpu-suite.sh BINARY OUTDIR}
out=${2:?usage: bench/gpu-suite.sh BINARY OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
status=0
# stage SECONDS LOG COMMAND...: runs COMMAND for at most SECONDS, its output on the terminal
# and appended to LOG.
stage() {
    local limit=$1 log=$2
    shift 2
    echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$log"
    timeout "$limit" "$@" > >(tee -a "$log") 2>&1 || {
        echo "!! exit $? from: $*" | tee -a "$log"
        status=1
    }
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv \
    2>/dev/null | tee "$out/profile.txt"
stage 30 "$out/profile.txt" "$bin" info
stage 60 "$out/profile.txt" "$bin" train --backend gpu --batch 67108864 --epochs 100 --log-every 50 --profile
stage 60 "$out/profile.txt" "$bin" train --backend gpu --epochs 200000 --log-every 100000 --profile
stage 240 "$out/compare.log" python3 bench/compare.py --binary "$bin" \
    --batches 4,1024,65536,1048576,16777216 --seconds 1 --repeats 5 --out "$out/compare.md"
stage 240 "$out/scale.txt" "$bin" scale --backend gpu,cpu --max-batch 268435456 --seconds 0.5 --repeats 3 \
    --csv "$out/scale.csv" --plot "$out/scale.png"
# Any MLP: 2-16-16-1 tanh (the fused pair) at 2^24 rows and 2-64-64-1 (the tiled kernels) at
# 2^20, each profiled against the copy bandwidth and the multiply-add yardstick, then the
# peer tables (PyTorch CUDA eager, JAX on the GPU) for both nets.
stage 90 "$out/mlp-profile.txt" "$bin" train --backend gpu --layers 2,16,16,1 --activation tanh --batch 16777216 \
    --epochs 50 --log-every 25 --profile
stage 90 "$out/mlp-profile.txt" "$bin" train --backend gpu --layers 2,64,64,1 --activation tanh --batch 1048576 \
    --epochs 50 --log-every 25 --profile
stage 90 "$out/mlp-profile.txt" "$bin" train --backend gpu --layers 2,256,256,1 --activation tanh --batch 1048576 \
    --epochs 10 --log-every 5 --profile
stage 240 "$out/compare-16.log" python3 bench/compare.py --binary "$bin" --layers 2,16,16,1 --activation tanh \
    --batches 65536,1048576,16777216 --seconds 1 --repeats 3 --out "$out/compare-2-16-16-1.md"
stage 240 "$out/compare-64.log" python3 bench/compare.py --binary "$bin" --layers 2,64,64,1 --activation tanh \
    --batches 65536,1048576 --seconds 1 --repeats 3 --out "$out/compare-2-64-64-1.md"
# Population training: a million 2-2-1 networks on the XOR table, and the peer table.
stage 120 "$out/population.txt" "$bin" population --backend gpu --models 1000000 --epochs 1000 --profile
stage 240 "$out/population.log" python3 bench/population.py --models 1000000 --epochs 1000 \
    --repeats 3 --binary "$bin" --out "$out/population.md"
exit $status
