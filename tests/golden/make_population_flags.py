"""Writes tests/golden/population_flags.json: for the first 10,000 seeds of the 2-2-1 and
2-3-1 sigmoid nets on the XOR table, whether each learns XOR with the single trainer's
defaults (lr 2, 5,000 epochs of full-batch gradient descent on the mean BCE), computed by
PyTorch autograd in float64 over all the networks at once: an oracle independent of this
project's code, which tests/population.rs holds the population trainer to.

The starting weights come from the binary (`population --export-init`), so both sides
start from the same numbers; everything after that is PyTorch's. Success is the project's
criterion: every sample on the right side of 0.5 and loss < 0.05 on the final weights.
Run from the repository root:

    cargo build --release && pip install torch && python3 tests/golden/make_population_flags.py
"""

import json
import os
import subprocess
import sys
import tempfile

import torch

SEEDS = 10_000
EPOCHS = 5000
LR = 2.0
TARGET = 0.05
WIDTHS = (2, 3)


def main():
    torch.set_default_dtype(torch.float64)
    with tempfile.TemporaryDirectory() as d:
        init = os.path.join(d, "init.json")
        subprocess.run(
            ["target/release/xorgpu", "population", "--backend", "cpu", "--models", str(SEEDS),
             "--hidden", ",".join(map(str, WIDTHS)), "--epochs", "1", "--quiet", "--export-init", init],
            check=True, stdout=subprocess.DEVNULL,
        )
        doc = json.load(open(init))
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = torch.tensor([0.0, 1.0, 1.0, 0.0])
    flags, losses = {}, {}
    for h in WIDTHS:
        nets = [n for n in doc["networks"] if n["hidden"] == h]
        assert [n["seed"] for n in nets] == list(range(1, SEEDS + 1))
        p = torch.tensor([n["params"] for n in nets])  # K × (4H + 1), packed [W1 | B1 | W2 | B2]
        w1 = p[:, : 2 * h].reshape(-1, h, 2).clone().requires_grad_()
        b1 = p[:, 2 * h : 3 * h].clone().requires_grad_()
        w2 = p[:, 3 * h : 4 * h].clone().requires_grad_()
        b2 = p[:, 4 * h].clone().requires_grad_()
        params = [w1, b1, w2, b2]

        def predict():
            s1 = torch.sigmoid(torch.einsum("khc,nc->knh", w1, x) + b1[:, None, :])  # K × 4 × H
            return torch.sigmoid(torch.einsum("knh,kh->kn", s1, w2) + b2[:, None])  # K × 4

        def loss_each(s2):
            bce = torch.nn.functional.binary_cross_entropy(s2, t.expand_as(s2), reduction="none")
            return bce.mean(dim=1)  # each network's own mean BCE

        opt = torch.optim.SGD(params, lr=LR)
        for _ in range(EPOCHS):
            opt.zero_grad()
            # The sum of the networks' losses: each network's gradient is its own.
            loss_each(predict()).sum().backward()
            opt.step()
        with torch.no_grad():
            s2 = predict()
            loss = loss_each(s2)
            right = ((s2 >= 0.5) == (t >= 0.5)).all(dim=1)
            ok = right & (loss < TARGET)
        flags[str(h)] = "".join("1" if f else "0" for f in ok.tolist())
        losses[str(h)] = [float(f"{v:.4g}") for v in loss.tolist()]
        print(f"2-{h}-1: {int(ok.sum())} of {SEEDS} learn XOR", file=sys.stderr)
    out = {
        "made_by": f"tests/golden/make_population_flags.py, PyTorch {torch.__version__}, float64",
        "seeds": [1, SEEDS],
        "epochs": EPOCHS,
        "lr": LR,
        "target_loss": TARGET,
        "flags": flags,
        "final_loss": losses,
    }
    with open("tests/golden/population_flags.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
