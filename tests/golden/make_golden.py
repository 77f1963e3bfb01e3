"""Writes tests/golden/golden.json: loss, gradients and trained weights computed by PyTorch
autograd, an oracle independent of this project's code, for the Rust tests to compare with.

PyTorch's own formulation is used on purpose: sample-major `nn.Linear` layers, `torch.sigmoid`,
`nn.BCELoss` (mean), `torch.optim.SGD`, in float64. The Rust side computes the same network
feature-major by hand. Run from the repository root:

    pip install torch numpy && python3 tests/golden/make_golden.py
"""

import json
import sys

import numpy as np
import torch

EPOCHS = 300

# The plastic number's reciprocals: the R2 low-discrepancy sequence's steps.
PHI2 = 1.32471795724474602596
R2_STEPS = (1.0 / PHI2, 1.0 / (PHI2 * PHI2))


def r2_points(n):
    """n points of the R2 sequence in the unit square, labelled by XOR of the halves.

    Computed in float64 exactly as tests/golden.rs does (i·a, + 0.5, minus its floor), then
    rounded to float32, so both sides hold the same numbers without a large committed file.
    """
    i = np.arange(n, dtype=np.float64)
    coords = []
    for a in R2_STEPS:
        v = 0.5 + i * a
        coords.append((v - np.floor(v)).astype(np.float32))
    x = np.stack(coords, axis=1).astype(np.float64)
    t = ((coords[0] > 0.5) != (coords[1] > 0.5)).astype(np.float64)
    return x, t


def f32(m):
    """Rounded to float32, so the Rust side reads exactly the numbers PyTorch used."""
    return np.asarray(m, dtype=np.float32).astype(np.float64)


def case(name, w1, b1, w2, b2, x, t, lr, epochs=EPOCHS, data=None):
    """`data`, where given, names a sequence the Rust side generates instead of reading x, t."""
    w1, b1, w2, b2, x = (f32(m) for m in (w1, b1, w2, b2, x))
    x = x.tolist()
    hidden = w1.shape[0]
    l1 = torch.nn.Linear(2, hidden).double()
    l2 = torch.nn.Linear(hidden, 1).double()
    with torch.no_grad():
        l1.weight.copy_(torch.from_numpy(w1))
        l1.bias.copy_(torch.from_numpy(b1[:, 0]))
        l2.weight.copy_(torch.from_numpy(w2))
        l2.bias.copy_(torch.from_numpy(b2[0]))
    model = torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid())
    bce = torch.nn.BCELoss()
    xs = torch.tensor(x, dtype=torch.float64)
    ts = torch.tensor(t, dtype=torch.float64).reshape(-1, 1)

    loss = bce(model(xs), ts)
    loss.backward()
    grads = {
        "w1": l1.weight.grad.tolist(),
        "b1": l1.bias.grad.reshape(-1, 1).tolist(),
        "w2": l2.weight.grad.tolist(),
        "b2": l2.bias.grad.reshape(1, 1).tolist(),
    }

    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        bce(model(xs), ts).backward()
        opt.step()
    with torch.no_grad():
        final_loss = bce(model(xs), ts).item()
    trained = {
        "w1": l1.weight.tolist(),
        "b1": l1.bias.reshape(-1, 1).tolist(),
        "w2": l2.weight.tolist(),
        "b2": l2.bias.reshape(1, 1).tolist(),
    }
    out = {
        "name": name,
        "weights": {"w1": w1.tolist(), "b1": b1.tolist(), "w2": w2.tolist(), "b2": b2.tolist()},
        "lr": lr,
        "loss": loss.item(),
        "grads": grads,
        "epochs": epochs,
        "trained": trained,
        "trained_loss": final_loss,
    }
    if data is None:
        out["x"], out["t"] = x, list(t)
    else:
        out["data"] = data
    print(f"{name}: loss {loss.item():.6f} -> {final_loss:.6f} after {epochs} epochs", file=sys.stderr)
    return out


def main():
    xor_x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    xor_t = [0.0, 1.0, 1.0, 0.0]
    rng = np.random.default_rng(7)
    corners = rng.integers(0, 4, size=37)
    noisy_x = [[xor_x[c][0] + 0.2 * rng.standard_normal(), xor_x[c][1] + 0.2 * rng.standard_normal()] for c in corners]
    noisy_t = [xor_t[c] for c in corners]
    h3 = rng.uniform(-1, 1, size=(3, 2)).tolist(), rng.uniform(-1, 1, size=(3, 1)).tolist()
    cases = [
        # The example weights of the weight-file format.
        case("xor table, H=2", [[0.5, -0.4], [0.3, 0.8]], [[0.1], [-0.2]], [[0.7, -0.6]], [[0.05]], xor_x, xor_t, 1.0),
        case("37 noisy samples, H=3", h3[0], h3[1], rng.uniform(-1, 1, size=(1, 3)).tolist(), [[0.2]], noisy_x, noisy_t, 0.5),
        # Confidently wrong: hidden units that detect XOR, read with the wrong sign, so every
        # output sits within 0.3-0.4% of 1 - target and the gradient must climb out of
        # saturation. (At twice these weights f32's own 1 - s in s(1 - s) moves a trajectory
        # by 2.5e-4 in 300 epochs, past the 1e-4 the comparison holds every path to.)
        case("xor table, saturated and wrong, H=2", [[8.0, -8.0], [-8.0, 8.0]], [[-4.0], [-4.0]],
             [[-12.0, -12.0]], [[6.0]], xor_x, xor_t, 1.0),
    ]
    # A run that converges: the loss ends well below ln 2 (checked here, not assumed).
    h4 = [rng.uniform(-1, 1, size=s).tolist() for s in [(4, 2), (4, 1), (1, 4), (1, 1)]]
    cases.append(case("xor table converging, H=4", *h4, xor_x, xor_t, 4.0))
    assert cases[-1]["trained_loss"] < 0.1, cases[-1]["trained_loss"]
    # A wide layer on the noisy samples.
    h16 = [rng.uniform(-0.5, 0.5, size=s).tolist() for s in [(16, 2), (16, 1), (1, 16), (1, 1)]]
    cases.append(case("37 noisy samples, H=16", *h16, noisy_x, noisy_t, 0.5))
    # More samples than one workgroup of the fused epoch takes on a CPU adapter (256 threads
    # x 1,024 samples = 262,144), from a sequence both sides compute.
    n = 300_000
    r2_x, r2_t = r2_points(n)
    h3b = [rng.uniform(-1, 1, size=s).tolist() for s in [(3, 2), (3, 1), (1, 3), (1, 1)]]
    cases.append(case(f"{n} R2 points, H=3", *h3b, r2_x, r2_t.tolist(), 2.0, epochs=60, data={"r2": n}))
    out = {"generator": f"PyTorch {torch.__version__}, float64 autograd, nn.BCELoss, optim.SGD", "cases": cases}
    json.dump(out, open("tests/golden/golden.json", "w"))
    print(f"wrote {len(cases)} cases with PyTorch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
