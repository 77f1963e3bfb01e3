"""Writes tests/golden/golden_mlp.json: deeper nets, other activations, optimizers and input
features, each computed by PyTorch autograd and torch.optim in float64, an oracle
independent of this project's code, for tests/golden_mlp.rs to compare with.

The data sets are drawn here by numpy from the playground's definitions (not by the Rust
generators: the samples themselves are in the file, rounded to float32), and the features
are computed in float32 as the Rust side computes them. A ReLU net is trained beside a
float32 copy of itself, and drawn again until, at every epoch, every hidden pre-activation
is farther from the kink than 20 times the two trajectories' distance there (and 1e-5):
then float32 and float64 never take different sides of it. Run from the repository root:

    pip install torch numpy && python3 tests/golden/make_golden_mlp.py
"""

import json
import sys

import numpy as np
import torch

EPOCHS = 300
KINK_MARGIN = 20.0
KINK_FLOOR = 1e-5


def f32(a):
    return np.asarray(a, dtype=np.float32)


def spiral(rng, n, noise):
    pts, labels = [], []
    for delta, label in [(0.0, 1.0), (np.pi, 0.0)]:
        half = n // 2
        for i in range(half):
            r = 5.0 * i / half
            angle = 1.75 * 2.0 * np.pi * i / half + delta
            pts.append([r * np.sin(angle) + rng.uniform(-1, 1) * noise, r * np.cos(angle) + rng.uniform(-1, 1) * noise])
            labels.append(label)
    return f32(pts), labels


def circle(rng, n, noise):
    pts, labels = [], []
    for r0, r1 in [(0.0, 2.5), (3.5, 5.0)]:
        for _ in range(n // 2):
            r = rng.uniform(r0, r1)
            angle = rng.uniform(0, 2 * np.pi)
            x, y = r * np.sin(angle), r * np.cos(angle)
            nx, ny = rng.uniform(-5, 5) * noise, rng.uniform(-5, 5) * noise
            pts.append([x, y])
            labels.append(1.0 if np.hypot(x + nx, y + ny) < 2.5 else 0.0)
    return f32(pts), labels


def gauss(rng, n, noise):
    sd = np.sqrt(0.5 + 7.0 * noise)
    pts, labels = [], []
    for centre, label in [(2.0, 1.0), (-2.0, 0.0)]:
        for _ in range(n // 2):
            pts.append([centre + rng.normal(0, sd), centre + rng.normal(0, sd)])
            labels.append(label)
    return f32(pts), labels


FEATURES = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}


def inputs(raw, features):
    """The network's inputs, computed in float32 from the float32 raw points."""
    x1, x2 = raw[:, 0], raw[:, 1]
    return np.stack([f32(FEATURES[f](x1, x2)) for f in features], axis=1).astype(np.float64)


ACT = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def build(widths, activation, weights):
    layers = []
    for k in range(len(widths) - 1):
        lin = torch.nn.Linear(widths[k], widths[k + 1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(weights[k]["w"]))
            lin.bias.copy_(torch.from_numpy(weights[k]["b"][:, 0]))
        layers.append(lin)
        layers.append(ACT[activation]() if k + 2 < len(widths) else torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers)


def linears(model):
    return [m for m in model if isinstance(m, torch.nn.Linear)]


def optimizer(model, spec):
    lins = linears(model)
    weights = [l.weight for l in lins]
    biases = [l.bias for l in lins]
    # L2 on the weights only, as the trainer's --l2: torch adds weight_decay·p to the gradient.
    groups = [{"params": weights, "weight_decay": spec.get("l2", 0.0)}, {"params": biases, "weight_decay": 0.0}]
    if spec["kind"] == "sgd":
        return torch.optim.SGD(groups, lr=spec["lr"])
    if spec["kind"] == "momentum":
        return torch.optim.SGD(groups, lr=spec["lr"], momentum=spec["momentum"])
    return torch.optim.Adam(groups, lr=spec["lr"], betas=(spec["beta1"], spec["beta2"]), eps=spec["eps"])


def hidden_z(model, xs):
    """Every hidden layer's pre-activations, concatenated."""
    zs, h = [], xs
    with torch.no_grad():
        last = linears(model)[-1]
        for m in model:
            h = m(h)
            if isinstance(m, torch.nn.Linear) and m is not last:
                zs.append(h.reshape(-1).double())
    return torch.cat(zs) if zs else torch.zeros(1, dtype=torch.float64)


def kink_ok(model, model32, xs, xs32):
    """Whether every hidden Z is far from 0 against the float32 copy's distance from it."""
    z64, z32 = hidden_z(model, xs), hidden_z(model32, xs32)
    gap = (z64 - z32).abs()
    return bool(((z64.abs() > KINK_MARGIN * gap) & (z64.abs() > KINK_FLOOR)).all())


def case(name, dataset, raw, labels, features, widths, activation, opt_spec, rng, scale=1.0, epochs=EPOCHS):
    assert widths[0] == len(features)
    x = inputs(raw, features)
    xs = torch.from_numpy(x)
    ts = torch.tensor(labels, dtype=torch.float64).reshape(-1, 1)
    bce = torch.nn.BCELoss()
    for attempt in range(1000):
        weights = []
        for k in range(len(widths) - 1):
            bound = scale * np.sqrt(6.0 / (widths[k] + widths[k + 1]))
            w = f32(rng.uniform(-bound, bound, size=(widths[k + 1], widths[k]))).astype(np.float64)
            b = f32(rng.uniform(-0.5, 0.5, size=(widths[k + 1], 1))).astype(np.float64)
            weights.append({"w": w, "b": b})
        model = build(widths, activation, weights)
        loss = bce(model(xs), ts)
        model.zero_grad()
        loss.backward()
        grads = [{"w": l.weight.grad.tolist(), "b": l.bias.grad.reshape(-1, 1).tolist()} for l in linears(model)]
        opt = optimizer(model, opt_spec)
        relu = activation == "relu"
        if relu:
            model32 = build(widths, activation, weights).float()
            opt32 = optimizer(model32, opt_spec)
            xs32, ts32 = xs.float(), ts.float()
        ok = not relu or kink_ok(model, model32, xs, xs32)
        for _ in range(epochs):
            if not ok:
                break
            opt.zero_grad()
            bce(model(xs), ts).backward()
            opt.step()
            if relu:
                opt32.zero_grad()
                bce(model32(xs32), ts32).backward()
                opt32.step()
                ok = kink_ok(model, model32, xs, xs32)
        if ok:
            break
    else:
        raise SystemExit(f"{name}: no draw kept every ReLU input away from the kink")
    with torch.no_grad():
        final_loss = bce(model(xs), ts).item()
        predictions = model(xs)[:, 0].numpy()
    accuracy = float(np.mean((predictions >= 0.5) == (np.asarray(labels) >= 0.5)))
    trained = [{"w": l.weight.tolist(), "b": l.bias.reshape(-1, 1).tolist()} for l in linears(model)]
    print(
        f"{name}: loss {loss.item():.6f} -> {final_loss:.6f} after {epochs} epochs, accuracy {accuracy:.3f}"
        + (f", ReLU inputs clear of the kink on draw {attempt + 1}" if activation == "relu" else ""),
        file=sys.stderr,
    )
    return {
        "name": name,
        "dataset": dataset,
        "raw": raw.tolist(),
        "t": labels,
        "model": {
            "format": "xorgpu-mlp",
            "version": 1,
            "activation": activation,
            "features": features,
            "layers": [{"w": l["w"].tolist(), "b": l["b"].tolist()} for l in weights],
            "optimizer": opt_spec,
        },
        "loss": loss.item(),
        "grads": grads,
        "epochs": epochs,
        "trained": trained,
        "trained_loss": final_loss,
    }


def spec(kind, lr, **extra):
    s = {"kind": kind, "lr": lr, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "l2": 0.0}
    s.update(extra)
    return s


def main():
    rng = np.random.default_rng(11)
    cases = []
    raw, t = spiral(rng, 200, 0.1)
    cases.append(case("2-16-16-1 tanh, Adam, spiral", "spiral", raw, t, ["x1", "x2"], [2, 16, 16, 1], "tanh",
                      spec("adam", 0.01), rng, scale=0.5))
    raw, t = circle(rng, 200, 0.1)
    cases.append(case("2-8-1 ReLU, momentum, circle", "circle", raw, t, ["x1", "x2"], [2, 8, 1], "relu",
                      spec("momentum", 0.05), rng))
    raw, t = gauss(rng, 200, 0.1)
    cases.append(case("7 features-4-2-1 sigmoid, L2, gauss", "gauss", raw, t, list(FEATURES), [7, 4, 2, 1], "sigmoid",
                      spec("sgd", 0.5, l2=0.01), rng))
    xor_raw = f32([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    cases.append(case("2-2-1 sigmoid, SGD, the XOR table", "corners", xor_raw, [0.0, 1.0, 1.0, 0.0], ["x1", "x2"],
                      [2, 2, 1], "sigmoid", spec("sgd", 2.0), rng, scale=2.0))
    out = {"generator": f"PyTorch {torch.__version__}, float64 autograd, nn.BCELoss, torch.optim", "cases": cases}
    json.dump(out, open("tests/golden/golden_mlp.json", "w"))
    print(f"wrote {len(cases)} cases with PyTorch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
