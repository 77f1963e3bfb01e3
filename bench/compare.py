"""One table, one run: the project's two backends beside the tutorial's NumPy, PyTorch
(CPU, and CUDA where it sees a GPU) and JAX (one jitted fori_loop, on JAX's default
device), for the same network, data distribution, epochs and learning rate, over a set of
batch sizes. Medians of repeats; ratios within this run.

    cargo build --release && python3 bench/compare.py [--batches 4,1024,65536,1048576]
    python3 bench/compare.py --layers 2,16,16,1 --activation tanh --batches 256,65536

The 2-H-1 sigmoid net (the default, `--layers 2,2,1`) is timed through `xorgpu scale`; any
other through `xorgpu train --json` (the training loop's own time, medians of repeats of
about a second each), every peer running the same widths, activation and plain SGD.

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

LR = 0.5


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


def ours_mlp(binary, batch, budget, repeats, layers, activation):
    """Seconds per epoch of `xorgpu train` on each backend for any net: a short run to size
    the epochs, then `repeats` runs of about budget/repeats seconds; the median."""
    spe, adapter = {}, None
    for backend in ("gpu", "cpu"):
        def run(epochs):
            out = subprocess.run(
                [binary, "--backend", backend, "--layers", layers, "--activation", activation, "--lr", str(LR),
                 "--batch", str(batch), "--epochs", str(epochs), "--json", "--quiet"],
                check=True, capture_output=True, text=True,
            )
            return json.loads(out.stdout)
        # Sized as the peers' runs are (seconds_per_epoch): doubled until a run takes a
        # quarter of a repeat's share, then scaled to the share. Sized from three epochs,
        # whose first-touch costs dwarf a 15 µs epoch, a repeat ran a few milliseconds and
        # read 256 rows of 2-16-16-1 at 1.6e7 samples/s where the training loop runs 1.7e7.
        first = run(3)
        epochs, took = 3, first["seconds"]
        while took < budget / repeats / 4 and epochs < 1 << 26:
            epochs *= 2
            took = run(epochs)["seconds"]
        epochs = max(3, int(epochs * (budget / repeats) / max(took, 1e-9)))
        times = [run(epochs)["seconds"] / epochs for _ in range(repeats)]
        spe[backend] = statistics.median(times)
        adapter = adapter or first.get("adapter")
    return spe, adapter


def ours(binary, batch, budget, repeats, hidden):
    out = subprocess.run(
        [binary, "scale", "--min-batch", str(batch), "--max-batch", str(batch), "--backend", "gpu,cpu",
         "--json", "--seconds", str(budget), "--repeats", str(repeats), "--lr", str(LR), "--hidden", str(hidden)],
        check=True, capture_output=True, text=True,
    )
    records = json.loads(out.stdout)
    adapter = next(r["adapter"] for r in records if r["backend"] == "gpu")
    return {r["backend"]: r["seconds_per_epoch"] for r in records}, adapter


PEERS = {
    "numpy": "NumPy",
    "torch": "PyTorch CPU",
    "torch-cuda": "PyTorch CUDA",
    "jax": "JAX fori_loop",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="4,1024,65536,1048576")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per point and framework")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--binary", default="target/release/xorgpu")
    ap.add_argument(
        "--peers",
        default="numpy,torch,torch-cuda,jax",
        help="which of " + ",".join(PEERS) + " to run (torch-cuda only where PyTorch sees a CUDA device)",
    )
    ap.add_argument("--layers", default="2,2,1", help="the net's widths (2,16,16,1 …)")
    ap.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])
    ap.add_argument("--out")
    args = ap.parse_args()
    widths = [int(w) for w in args.layers.split(",")]
    classic = len(widths) == 3 and widths[0] == 2 and widths[2] == 1 and args.activation == "sigmoid"

    # JAX takes most of a GPU's memory at start unless told not to; the others need it too.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax
    import numpy
    import torch

    peers_wanted = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers_wanted if p not in PEERS]
    if unknown:
        sys.exit(f"compare.py: unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)}")
    if "torch-cuda" in peers_wanted and not torch.cuda.is_available():
        print("PyTorch sees no CUDA device: torch-cuda left out", file=sys.stderr)
        peers_wanted.remove("torch-cuda")

    rows, adapter = [], None
    for batch in [int(b) for b in args.batches.split(",")]:
        x, t = peers.make_data(batch)
        if classic:
            params = peers.init(widths[1])
            spe, adapter = ours(args.binary, batch, args.seconds, args.repeats, widths[1])
        else:
            layers = peers.mlp_init(widths)
            spe, adapter = ours_mlp(args.binary, batch, args.seconds, args.repeats, args.layers, args.activation)
        for peer in peers_wanted:
            device = "cuda" if peer == "torch-cuda" else "cpu"
            if peer == "numpy":
                if classic:
                    run = lambda e: peers.numpy_train(x, t, params, e, LR)  # noqa: E731
                else:
                    run = lambda e: peers.mlp_numpy_train(x, t, layers, args.activation, e, LR)  # noqa: E731
            elif peer in ("torch", "torch-cuda"):
                if classic:
                    ts = peers.torch_setup(x, t, params, device=device)
                else:
                    ts = peers.mlp_torch_setup(x, t, layers, args.activation, device=device)
                run = lambda e, ts=ts: peers.torch_train(ts, e, LR)  # noqa: E731
            else:
                js = peers.jax_setup(x, t, params) if classic else peers.mlp_jax_setup(x, t, layers, args.activation)
                run = lambda e, js=js: peers.jax_train(js, e, LR)  # noqa: E731
            spe[peer] = seconds_per_epoch(run, args.seconds, args.repeats)
        rows.append((batch, spe))
        print(f"batch {batch}: " + ", ".join(f"{k} {v:.3e} s/epoch" for k, v in spe.items()), file=sys.stderr)

    date = datetime.date.today().isoformat()
    versions = [f"NumPy {numpy.__version__}"]
    if "torch" in peers_wanted or "torch-cuda" in peers_wanted:
        where = [f"CPU, {torch.get_num_threads()} threads"] if "torch" in peers_wanted else []
        if "torch-cuda" in peers_wanted:
            where.append(f"CUDA on {torch.cuda.get_device_name(0)}")
        versions.append(f"PyTorch {torch.__version__} ({'; '.join(where)})")
    if "jax" in peers_wanted:
        versions.append(f"JAX {jax.__version__} ({jax.default_backend()})")
    names = {"gpu": "ours gpu", "cpu": "ours cpu", **{p: PEERS[p] for p in peers_wanted}}
    columns = ["gpu", "cpu", *peers_wanted]
    ratios = [(a, b) for a in ("cpu", "gpu") for b in peers_wanted]
    lines = [
        f"Measured {date} on {cpu_name()}; GPU backend on {adapter}.",
        f"{', '.join(versions)}. Net {args.layers} {args.activation}, plain SGD, lr = {LR}; medians of {args.repeats} repeats.",
        "",
        "| batch | " + " | ".join(names[c] for c in columns) + " | "
        + " | ".join(f"{a}/{PEERS[b]}" for a, b in ratios) + " |",
        "| ---: " * (1 + len(columns) + len(ratios)) + "|",
    ]
    for batch, spe in rows:
        # Epochs per second at 4 rows, samples per second above: the rates each regime cares about.
        unit = 1 if batch == 4 else batch
        cells = [f"{unit / spe[c]:.3g}" for c in columns] + [f"{spe[b] / spe[a]:.2f}×" for a, b in ratios]
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Rates: epochs/s at batch 4, samples/s above. Ratios: how many times faster the first is.")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
