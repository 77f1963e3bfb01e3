"""Population training, one run, ratios within it: K independent 2-H-1 sigmoid networks
trained by full-batch SGD on the XOR table, in network-epochs per second.

    cargo build --release && python3 bench/population.py [--models 100000] [--epochs 1000]

Rows: `xorgpu population` on the CPU and on the GPU backend; JAX `vmap` of a jitted
`fori_loop` trainer (jax.grad of the BCE) over the K networks; PyTorch batched (`torch.bmm`
over K networks, the gradient written out, no autograd, no sync inside the loop; CUDA where
PyTorch sees a GPU); and this project's single-network trainer, whose rate on one network
is what K separate runs would give. Medians of --repeats; each peer first runs once
untimed (JIT compilation, allocator warm-up).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_T = np.array([0, 1, 1, 0], dtype=np.float32)
BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "xorgpu")


def init(k, h, seed=1):
    """PyTorch's nn.Linear default ranges, as the project's 2-H-1 draw."""
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(2), 1 / np.sqrt(h)
    return (
        rng.uniform(-b1, b1, (k, h, 2)).astype(np.float32),
        rng.uniform(-b1, b1, (k, h)).astype(np.float32),
        rng.uniform(-b2, b2, (k, h)).astype(np.float32),
        rng.uniform(-b2, b2, (k,)).astype(np.float32),
    )


def jax_rate(k, h, epochs, lr, repeats):
    import jax
    import jax.numpy as jnp

    x, t = jnp.asarray(XOR_X), jnp.asarray(XOR_T)

    def loss(p):
        w1, b1, w2, b2 = p
        s1 = jax.nn.sigmoid(x @ w1.T + b1)
        s2 = jax.nn.sigmoid(s1 @ w2 + b2)
        log = lambda q: jnp.maximum(jnp.log(q), -100.0)  # noqa: E731
        return -jnp.mean(t * log(s2) + (1 - t) * log(1 - s2))

    grad = jax.grad(loss)

    def train_one(p):
        def step(_, p):
            g = grad(p)
            return tuple(a - lr * b for a, b in zip(p, g))

        return jax.lax.fori_loop(0, epochs, step, p)

    train = jax.jit(jax.vmap(train_one))
    p = tuple(jnp.asarray(a) for a in init(k, h))
    jax.block_until_ready(train(p))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(train(p))
        times.append(time.perf_counter() - start)
    return k * epochs / statistics.median(times), f"JAX {jax.__version__} vmap ({jax.default_backend()})"


def torch_rate(k, h, epochs, lr, repeats):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.tensor(XOR_X, device=device).T.expand(k, 2, 4)  # K × 2 × 4
    t = torch.tensor(XOR_T, device=device).view(1, 1, 4)

    def train(p):
        w1, b1, w2, b2 = (a.clone() for a in p)
        for _ in range(epochs):
            s1 = torch.sigmoid(torch.bmm(w1, x) + b1.unsqueeze(2))  # K × H × 4
            s2 = torch.sigmoid(torch.bmm(w2.unsqueeze(1), s1) + b2.view(k, 1, 1))  # K × 1 × 4
            dz2 = (s2 - t) / 4
            dz1 = w2.unsqueeze(2) * dz2 * s1 * (1 - s1)  # K × H × 4
            w2 -= lr * torch.bmm(dz2, s1.transpose(1, 2)).squeeze(1)
            b2 -= lr * dz2.sum((1, 2))
            w1 -= lr * torch.bmm(dz1, x.transpose(1, 2))
            b1 -= lr * dz1.sum(2)
        if device == "cuda":
            torch.cuda.synchronize()

    p = tuple(torch.tensor(a, device=device) for a in init(k, h))
    train(p)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        train(p)
        times.append(time.perf_counter() - start)
    return k * epochs / statistics.median(times), f"PyTorch {torch.__version__} bmm ({device})"


def xorgpu_rate(binary, backend, k, h, epochs, repeats):
    rates = []
    name = backend
    for _ in range(repeats + 1):
        out = subprocess.run(
            [binary, "population", "--backend", backend, "--models", str(k), "--hidden", str(h), "--epochs", str(epochs), "--json"],
            check=True, capture_output=True, text=True,
        )
        v = json.loads(out.stdout)
        rates.append(v["network_epochs_per_s"])
        name = f"xorgpu population, {backend}" + (f" ({v['adapter']})" if v["adapter"] else "")
    return statistics.median(rates[1:]), name


def single_rate(binary, h, repeats):
    """The single trainer on one network: epochs per second is network-epochs per second."""
    rates = []
    for _ in range(repeats + 1):
        out = subprocess.run(
            [binary, "--backend", "cpu", "--hidden", str(h), "--epochs", "1000000", "--json", "--quiet"],
            check=True, capture_output=True, text=True,
        )
        rates.append(json.loads(out.stdout)["epochs_per_s"])
    return statistics.median(rates[1:]), "xorgpu single trainer, cpu, run K times"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--hidden", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--binary", default=BINARY)
    a = ap.parse_args()
    rows = [
        xorgpu_rate(a.binary, "cpu", a.models, a.hidden, a.epochs, a.repeats),
        xorgpu_rate(a.binary, "gpu", a.models, a.hidden, a.epochs, a.repeats),
        jax_rate(a.models, a.hidden, a.epochs, a.lr, a.repeats),
        torch_rate(a.models, a.hidden, a.epochs, a.lr, a.repeats),
        single_rate(a.binary, a.hidden, a.repeats),
    ]
    cpu = rows[0][0]
    machine = "unknown CPU"
    try:
        machine = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"2-{a.hidden}-1 sigmoid on the XOR table, K = {a.models:,} networks, {a.epochs} epochs, medians of {a.repeats}",
        f"{time.strftime('%Y-%m-%d')}, {machine} ({os.cpu_count()} threads)",
        "",
        "| trainer | network-epochs/s | xorgpu cpu is |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {rate:.3e} | {cpu / rate:.2f}× |" for rate, name in rows]
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
