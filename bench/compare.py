"""One table, one run: the project's two backends beside the tutorial's NumPy, PyTorch
(CPU) and JAX (one jitted fori_loop), for the same network, data distribution, epochs and
learning rate, over a set of batch sizes. Medians of repeats; ratios within this run.

    cargo build --release && python3 bench/compare.py [--batches 4,1024,65536,1048576]

Prints a Markdown table (and writes it to --out if given).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

HIDDEN, LR = 2, 0.5


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} threads)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def seconds_per_epoch(run, budget, repeats):
    """Warm up, pick epochs so one repeat takes about budget/repeats, return the median."""
    run(1)
    epochs = 1
    while True:
        start = time.perf_counter()
        run(epochs)
        took = time.perf_counter() - start
        if took > budget / repeats / 4 or epochs >= 1 << 24:
            break
        epochs *= 2
    epochs = max(1, int(epochs * (budget / repeats) / max(took, 1e-9)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(epochs)
        times.append((time.perf_counter() - start) / epochs)
    return statistics.median(times)


def ours(binary, batch, budget, repeats):
    out = subprocess.run(
        [binary, "scale", "--min-batch", str(batch), "--max-batch", str(batch), "--backend", "gpu,cpu",
         "--json", "--seconds", str(budget), "--repeats", str(repeats), "--lr", str(LR), "--hidden", str(HIDDEN)],
        check=True, capture_output=True, text=True,
    )
    records = json.loads(out.stdout)
    adapter = next(r["adapter"] for r in records if r["backend"] == "gpu")
    return {r["backend"]: r["seconds_per_epoch"] for r in records}, adapter


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="4,1024,65536,1048576")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per point and framework")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--binary", default="target/release/xorgpu")
    ap.add_argument("--out")
    args = ap.parse_args()

    import jax
    import numpy
    import torch

    rows, adapter = [], None
    for batch in [int(b) for b in args.batches.split(",")]:
        x, t = peers.make_data(batch)
        params = peers.init(HIDDEN)
        spe, adapter = ours(args.binary, batch, args.seconds, args.repeats)
        spe["numpy"] = seconds_per_epoch(lambda e: peers.numpy_train(x, t, params, e, LR), args.seconds, args.repeats)
        ts = peers.torch_setup(x, t, params)
        spe["torch"] = seconds_per_epoch(lambda e: peers.torch_train(ts, e, LR), args.seconds, args.repeats)
        js = peers.jax_setup(x, t, params)
        spe["jax"] = seconds_per_epoch(lambda e: peers.jax_train(js, e, LR), args.seconds, args.repeats)
        rows.append((batch, spe))
        print(f"batch {batch}: " + ", ".join(f"{k} {v:.3e} s/epoch" for k, v in spe.items()), file=sys.stderr)

    date = datetime.date.today().isoformat()
    lines = [
        f"Measured {date} on {cpu_name()}; GPU backend on {adapter}.",
        f"NumPy {numpy.__version__}, PyTorch {torch.__version__} (CPU, {torch.get_num_threads()} threads), "
        f"JAX {jax.__version__} (CPU). H = {HIDDEN}, lr = {LR}; medians of {args.repeats} repeats.",
        "",
        "| batch | ours gpu | ours cpu | NumPy | PyTorch | JAX fori_loop | cpu/JAX | cpu/NumPy | cpu/PyTorch | gpu/NumPy | gpu/PyTorch | gpu/JAX |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch, spe in rows:
        # Epochs per second at 4 rows, samples per second above: the rates each regime cares about.
        unit = 1 if batch == 4 else batch
        rate = {k: unit / v for k, v in spe.items()}
        fmt = lambda r: f"{r:.3g}"  # noqa: E731
        ratio = lambda a, b: f"{spe[b] / spe[a]:.2f}×"  # noqa: E731
        lines.append(
            f"| {batch} | {fmt(rate['gpu'])} | {fmt(rate['cpu'])} | {fmt(rate['numpy'])} | {fmt(rate['torch'])} | "
            f"{fmt(rate['jax'])} | {ratio('cpu', 'jax')} | {ratio('cpu', 'numpy')} | {ratio('cpu', 'torch')} | "
            f"{ratio('gpu', 'numpy')} | {ratio('gpu', 'torch')} | {ratio('gpu', 'jax')} |"
        )
    lines.append("")
    lines.append("Rates: epochs/s at batch 4, samples/s above. Ratios: how many times faster the first is.")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
