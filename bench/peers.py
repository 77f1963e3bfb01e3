"""What a user would write instead: the same 2-H-1 sigmoid network, binary cross-entropy,
full-batch gradient descent, in the tutorial's NumPy, in PyTorch (autograd) and in JAX (the
whole training loop in one jitted lax.fori_loop). Each function trains `epochs` epochs and
returns the final loss; the caller times it.

The data is the project's distribution (the XOR table at 4 rows; noisy XOR corners, σ = 0.1,
above), drawn here by NumPy: the values differ from the project's ChaCha8 draws, the work
does not.
"""

import numpy as np


def make_data(n, seed=1, noise=0.1):
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    labels = np.array([0, 1, 1, 0], dtype=np.float32)
    if n == 4:
        return corners.copy(), labels.copy()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, 4, size=n)
    x = corners[pick] + noise * rng.standard_normal((n, 2)).astype(np.float32)
    return x.astype(np.float32), labels[pick]


def init(hidden, seed=1):
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(2), 1 / np.sqrt(hidden)
    return {
        "w1": rng.uniform(-b1, b1, (hidden, 2)).astype(np.float32),
        "b1": rng.uniform(-b1, b1, (hidden, 1)).astype(np.float32),
        "w2": rng.uniform(-b2, b2, (1, hidden)).astype(np.float32),
        "b2": rng.uniform(-b2, b2, (1, 1)).astype(np.float32),
    }


# ---- NumPy, as the tutorial writes it: feature-major, one line per step of the chain rule.


def numpy_train(x, t, params, epochs, lr):
    p = {k: v.copy() for k, v in params.items()}
    xt = x.T  # 2 × N
    tt = t.reshape(1, -1)  # 1 × N
    n = x.shape[0]
    loss = None
    for _ in range(epochs):
        g1 = p["w1"] @ xt + p["b1"]
        s1 = 1 / (1 + np.exp(-g1))
        g2 = p["w2"] @ s1 + p["b2"]
        s2 = 1 / (1 + np.exp(-g2))
        loss = -np.mean(tt * np.log(s2) + (1 - tt) * np.log(1 - s2))
        d_s2 = (-tt / s2 + (1 - tt) / (1 - s2)) / n
        d_g2 = d_s2 * s2 * (1 - s2)
        d_w2 = d_g2 @ s1.T
        d_b2 = d_g2.sum(axis=1, keepdims=True)
        d_s1 = p["w2"].T @ d_g2
        d_g1 = d_s1 * s1 * (1 - s1)
        d_w1 = d_g1 @ xt.T
        d_b1 = d_g1.sum(axis=1, keepdims=True)
        p["w1"] -= lr * d_w1
        p["b1"] -= lr * d_b1
        p["w2"] -= lr * d_w2
        p["b2"] -= lr * d_b2
    return float(loss)


# ---- PyTorch: nn.Linear, nn.BCELoss, autograd, optim.SGD, full batch.


def torch_setup(x, t, params, device="cpu"):
    import torch

    hidden = params["w1"].shape[0]
    l1, l2 = torch.nn.Linear(2, hidden), torch.nn.Linear(hidden, 1)
    with torch.no_grad():
        l1.weight.copy_(torch.from_numpy(params["w1"]))
        l1.bias.copy_(torch.from_numpy(params["b1"][:, 0]))
        l2.weight.copy_(torch.from_numpy(params["w2"]))
        l2.bias.copy_(torch.from_numpy(params["b2"][0]))
    model = torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid()).to(device)
    xs = torch.from_numpy(x).to(device)
    ts = torch.from_numpy(t).reshape(-1, 1).to(device)
    return model, xs, ts


def torch_train(setup, epochs, lr):
    import torch

    model, xs, ts = setup
    bce = torch.nn.BCELoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss = None
    for _ in range(epochs):
        opt.zero_grad()
        loss = bce(model(xs), ts)
        loss.backward()
        opt.step()
    return float(loss.item())  # the one host round trip, at the end


# ---- JAX: value_and_grad of the loss, the whole loop in one jitted lax.fori_loop.


def jax_setup(x, t, params):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, x, t):
        s1 = jax.nn.sigmoid(x @ p["w1"].T + p["b1"][:, 0])
        s2 = jax.nn.sigmoid(s1 @ p["w2"].T + p["b2"][0])[:, 0]
        return -jnp.mean(t * jnp.log(s2) + (1 - t) * jnp.log(1 - s2))

    grad = jax.value_and_grad(loss_fn)

    @jax.jit
    def train(p, x, t, epochs, lr):
        def step(_, carry):
            p, _ = carry
            loss, g = grad(p, x, t)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), loss

        return jax.lax.fori_loop(0, epochs, step, (p, jnp.float32(0)))

    p = {k: jnp.asarray(v) for k, v in params.items()}
    return train, p, jnp.asarray(x), jnp.asarray(t)


def jax_train(setup, epochs, lr):
    train, p, x, t = setup
    _, loss = train(p, x, t, epochs, lr)
    return float(loss.block_until_ready())


# ---- Any MLP (2-16-16-1 tanh and the like): the same three peers for a list of widths,
# hidden activation `act`, sigmoid output, BCE, full-batch SGD.


def mlp_init(widths, seed=1):
    """Glorot-uniform weights, zero biases: what the project draws for tanh and sigmoid nets."""
    rng = np.random.default_rng(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        bound = np.sqrt(6.0 / (a + b))
        layers.append((rng.uniform(-bound, bound, (b, a)).astype(np.float32), np.zeros((b, 1), np.float32)))
    return layers


NUMPY_ACT = {
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(np.float32)),
}


def mlp_numpy_train(x, t, layers, act, epochs, lr):
    f, df = NUMPY_ACT[act]
    ws = [(w.copy(), b.copy()) for w, b in layers]
    xt, tt, n = x.T, t.reshape(1, -1), x.shape[0]
    loss = None
    for _ in range(epochs):
        a = [xt]
        for k, (w, b) in enumerate(ws):
            z = w @ a[-1] + b
            a.append(1 / (1 + np.exp(-z)) if k == len(ws) - 1 else f(z))
        p = a[-1]
        loss = -np.mean(tt * np.log(p) + (1 - tt) * np.log(1 - p))
        dz = (p - tt) / n
        for k in range(len(ws) - 1, -1, -1):
            w, b = ws[k]
            dw, db = dz @ a[k].T, dz.sum(axis=1, keepdims=True)
            if k > 0:
                dz = (w.T @ dz) * df(a[k])
            w -= lr * dw
            b -= lr * db
    return float(loss)


def mlp_torch_setup(x, t, layers, act, device="cpu"):
    import torch

    mods = []
    for k, (w, b) in enumerate(layers):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b[:, 0]))
        mods.append(lin)
        mods.append(torch.nn.Sigmoid() if k == len(layers) - 1 else {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[act]())
    model = torch.nn.Sequential(*mods).to(device)
    return model, torch.from_numpy(x).to(device), torch.from_numpy(t).reshape(-1, 1).to(device)


def mlp_jax_setup(x, t, layers, act):
    import jax
    import jax.numpy as jnp

    f = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[act]

    def loss_fn(p, x, t):
        h = x
        for k, (w, b) in enumerate(p):
            z = h @ w.T + b[:, 0]
            h = jax.nn.sigmoid(z) if k == len(p) - 1 else f(z)
        s = h[:, 0]
        return -jnp.mean(t * jnp.log(s) + (1 - t) * jnp.log(1 - s))

    grad = jax.value_and_grad(loss_fn)

    @jax.jit
    def train(p, x, t, epochs, lr):
        def step(_, carry):
            p, _ = carry
            loss, g = grad(p, x, t)
            return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), loss

        return jax.lax.fori_loop(0, epochs, step, (p, jnp.float32(0)))

    p = [(jnp.asarray(w), jnp.asarray(b)) for w, b in layers]
    return train, p, jnp.asarray(x), jnp.asarray(t)
