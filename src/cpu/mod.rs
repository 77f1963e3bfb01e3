//! The CPU reference: the math note, line by line, in plain Rust.
//!
//! Shape letters: N samples (the batch, the fast axis), H hidden units. Every matrix is
//! feature-major and row-major: `a[row * cols + col]`, with samples along the columns.
//!
//! Each function here has a WGSL kernel of the same name (`shaders/`), and the tests pair
//! them. The functions are generic over the float type so the gradient check can run the
//! very same code in `f64`. Sums over the batch accumulate in `f64`: the reference should
//! be closer to the exact value than the GPU's tree reductions, not further.

pub mod approx;
pub mod exact;
pub mod fast;
pub mod fast_mlp;
pub mod mlp;
pub mod population;
pub mod tiny;

use num_traits::Float;

use crate::data::Dataset;
use crate::model::Params;
use crate::net::optim::AdamStep;
use crate::net::Activation;

/// Below this a probability is treated as 0 by the clamped log: the smallest normal f32.
/// GPUs may flush denormals to zero, so the reference does the same on purpose.
pub const MIN_NORMAL: f32 = f32::MIN_POSITIVE;
/// PyTorch's `BCELoss` clamps each log at −100.
pub const LOG_CLAMP: f32 = -100.0;
/// PyTorch's guard on the `S2·(1 − S2)` divisor of the loss gradient.
pub const GRAD_EPS: f32 = 1e-12;

fn c<F: Float>(x: f32) -> F {
    F::from(x).expect("f32 constant fits every float type")
}

/// Sums in f64 whatever the float type.
fn sum<F: Float>(terms: impl Iterator<Item = F>) -> F {
    F::from(terms.map(|x| x.to_f64().expect("finite or not, a float converts")).sum::<f64>()).expect("f64 fits")
}

/// `c = op(a) · op(b)`, `op(a): m × k`, `op(b): k × p`, `c: m × p` (written, `=`).
/// `a_t`: `a` is stored `k × m` and used transposed; likewise `b_t` for `b` stored `p × k`.
pub fn matmul<F: Float>(a: &[F], a_t: bool, b: &[F], b_t: bool, m: usize, k: usize, p: usize) -> Vec<F> {
    let at = |i: usize, kk: usize| if a_t { a[kk * m + i] } else { a[i * k + kk] };
    let bt = |kk: usize, j: usize| if b_t { b[j * k + kk] } else { b[kk * p + j] };
    let mut c_out = vec![F::zero(); m * p];
    for i in 0..m {
        for j in 0..p {
            c_out[i * p + j] = sum((0..k).map(|kk| at(i, kk) * bt(kk, j)));
        }
    }
    c_out
}

/// `z[r, n] += bias[r]` for `z: rows × n`, `bias: rows × 1` (accumulated, `+=`).
pub fn add_bias<F: Float>(z: &mut [F], bias: &[F], n: usize) {
    for (row, &b) in z.chunks_mut(n).zip(bias) {
        for v in row {
            *v = *v + b;
        }
    }
}

/// `f(x)` through libm's f64 function, rounded once to the float type: for f32 the
/// correctly rounded value (but where the exact one lies within about 1e-16 of a halfway
/// point), better than libm's own f32 functions, and what [`exact`]'s vectorised ones
/// match bit for bit; for f64, libm's.
fn via_f64<F: Float>(x: F, f: fn(f64) -> f64) -> F {
    F::from(f(x.to_f64().expect("a float converts"))).expect("a float converts")
}

/// σ(z) = 1 / (1 + e^(−z)), branching on the sign so `exp` never overflows.
pub fn sigmoid_scalar<F: Float>(z: F) -> F {
    let e = via_f64(-z.abs(), f64::exp);
    if z >= F::zero() {
        F::one() / (F::one() + e)
    } else {
        e / (F::one() + e)
    }
}

/// `s = σ(g)`, element-wise (written).
pub fn sigmoid<F: Float>(g: &[F]) -> Vec<F> {
    g.iter().map(|&z| sigmoid_scalar(z)).collect()
}

/// `dg = ds ⊙ s ⊙ (1 − s)`: back through a sigmoid whose output was `s` (written).
pub fn sigmoid_backward<F: Float>(ds: &[F], s: &[F]) -> Vec<F> {
    ds.iter().zip(s).map(|(&d, &s)| d * s * (F::one() - s)).collect()
}

/// `s = tanh(g)`, element-wise (written).
pub fn tanh<F: Float>(g: &[F]) -> Vec<F> {
    g.iter().map(|&z| via_f64(z, f64::tanh)).collect()
}

/// `dg = ds ⊙ (1 − s²)`: back through a tanh whose output was `s` (written).
pub fn tanh_backward<F: Float>(ds: &[F], s: &[F]) -> Vec<F> {
    ds.iter().zip(s).map(|(&d, &s)| d * (F::one() - s * s)).collect()
}

/// `s = max(g, 0)`, element-wise (written). A NaN stays NaN, so divergence shows.
pub fn relu<F: Float>(g: &[F]) -> Vec<F> {
    g.iter().map(|&z| if z < F::zero() { F::zero() } else { z }).collect()
}

/// `dg = ds ⊙ [s > 0]`: back through a ReLU whose output was `s` (written). `s > 0`
/// exactly where `g > 0`, so the stored output decides, and the kink takes 0 as PyTorch does.
pub fn relu_backward<F: Float>(ds: &[F], s: &[F]) -> Vec<F> {
    ds.iter().zip(s).map(|(&d, &s)| if s > F::zero() { d } else { F::zero() }).collect()
}

/// `A = f(Z)` for the hidden activation `f` (written).
pub fn activate<F: Float>(f: Activation, z: &[F]) -> Vec<F> {
    match f {
        Activation::Sigmoid => sigmoid(z),
        Activation::Tanh => tanh(z),
        Activation::Relu => relu(z),
    }
}

/// `dZ = dA ⊙ f′`, with f′ from the stored output `a` (written).
pub fn activate_backward<F: Float>(f: Activation, da: &[F], a: &[F]) -> Vec<F> {
    match f {
        Activation::Sigmoid => sigmoid_backward(da, a),
        Activation::Tanh => tanh_backward(da, a),
        Activation::Relu => relu_backward(da, a),
    }
}

/// `A = f(W·A_prev + B)`: one layer's forward pass, `W: rows × cols`, `B: rows × 1`,
/// `A_prev: cols × n` (written). The tiled path's `layer_forward` computes it in one kernel;
/// here it is the step path's three.
pub fn layer_forward<F: Float>(f: Activation, w: &[F], b: &[F], a_prev: &[F], rows: usize, cols: usize) -> Vec<F> {
    let n = a_prev.len() / cols.max(1);
    let mut z = matmul(w, false, a_prev, false, rows, cols, n);
    add_bias(&mut z, b, n);
    activate(f, &z)
}

/// `dZ_prev = (Wᵀ·dZ) ⊙ f′(A_prev)`: back through a layer and the activation below it,
/// `W: rows × cols`, `dZ: rows × n`, `A_prev: cols × n` (written).
pub fn layer_backward<F: Float>(f: Activation, w: &[F], d_z: &[F], a_prev: &[F], rows: usize, cols: usize) -> Vec<F> {
    let n = d_z.len() / rows.max(1);
    activate_backward(f, &matmul(w, true, d_z, false, cols, rows, n), a_prev)
}

/// `dW = dZ·A_prevᵀ`: a layer's weight gradient, `dZ: rows × n`, `A_prev: cols × n`,
/// `dW: rows × cols` (written).
pub fn layer_grad<F: Float>(d_z: &[F], a_prev: &[F], rows: usize, cols: usize) -> Vec<F> {
    let n = d_z.len() / rows.max(1);
    matmul(d_z, false, a_prev, true, rows, n, cols)
}

/// `log p`, clamped at −100 as PyTorch does, with p below the smallest normal f32 taken
/// as 0 (above it `ln p` > −88 needs no clamp). No `max()`: a NaN p must give a NaN loss,
/// which is how a diverging run is caught.
pub fn clamped_log<F: Float>(p: F) -> F {
    if p < c(MIN_NORMAL) {
        c(LOG_CLAMP)
    } else {
        via_f64(p, f64::ln)
    }
}

/// Binary cross-entropy averaged over the batch: `−(1/N) Σₙ [tₙ log pₙ + (1 − tₙ) log(1 − pₙ)]`.
/// `s2: 1 × N` predictions, `t: 1 × N` targets.
pub fn bce_loss<F: Float>(s2: &[F], t: &[F]) -> F {
    let n = F::from(s2.len()).expect("batch size fits");
    -sum(s2.iter().zip(t).map(|(&p, &t)| t * clamped_log(p) + (F::one() - t) * clamped_log(F::one() - p))) / n
}

/// `∂loss/∂S2 = (1/N)·(S2 − T) / max(S2·(1 − S2), 1e-12)`, which is the math note's
/// `(1/N)(−T/S2 + (1 − T)/(1 − S2))` with PyTorch's guard on the divisor (written).
pub fn bce_grad<F: Float>(s2: &[F], t: &[F]) -> Vec<F> {
    let n = F::from(s2.len()).expect("batch size fits");
    s2.iter().zip(t).map(|(&p, &t)| (p - t) / (p * (F::one() - p)).max(c(GRAD_EPS)) / n).collect()
}

/// `out[r] = Σₙ a[r, n]` for `a: rows × n`: the sum along the batch axis (written).
pub fn sum_rows<F: Float>(a: &[F], n: usize) -> Vec<F> {
    a.chunks(n).map(|row| sum(row.iter().copied())).collect()
}

/// `out[j] = Σ_r a[r, j]` for `a: rows × n` (written): the sum down the rows.
pub fn sum_cols<F: Float>(a: &[F], n: usize) -> Vec<F> {
    (0..n).map(|j| sum(a.iter().skip(j).step_by(n.max(1)).copied())).collect()
}

/// `p ← p − lr · dp`, element-wise over the packed parameters (updated in place).
pub fn sgd_update<F: Float>(params: &mut [F], grads: &[F], lr: F) {
    for (p, &g) in params.iter_mut().zip(grads) {
        *p = *p - lr * g;
    }
}

/// `g ← g + λ·w` over one layer's weights (`grads` and `weights` the same slice of the
/// packed vectors; biases are left out by the caller): L2 on the weights (updated in place).
pub fn l2_grad<F: Float>(grads: &mut [F], weights: &[F], lambda: F) {
    for (g, &w) in grads.iter_mut().zip(weights) {
        *g = *g + lambda * w;
    }
}

/// SGD with momentum μ, PyTorch's rule: `v ← μ·v + g`, `p ← p − lr·v` (updated in place).
pub fn momentum_update<F: Float>(params: &mut [F], v: &mut [F], grads: &[F], lr: F, mu: F) {
    for ((p, v), &g) in params.iter_mut().zip(v.iter_mut()).zip(grads) {
        *v = mu * *v + g;
        *p = *p - lr * *v;
    }
}

/// Adam at one step, in PyTorch's order of operations, with that step's scalars `s`
/// (`step_size = lr/(1−β₁ᵗ)`, `√(1−β₂ᵗ)`, from [`crate::net::optim::Optimizer::adam_step`]):
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p − step_size·m / (√v/√(1−β₂ᵗ) + ε)`
/// (updated in place).
pub fn adam_update<F: Float>(params: &mut [F], m: &mut [F], v: &mut [F], grads: &[F], s: &AdamStep) {
    let f = |x: f64| F::from(x).expect("f64 converts");
    let (b1, b2, c1, c2) = (f(s.beta1), f(s.beta2), f(s.one_minus_beta1), f(s.one_minus_beta2));
    let (eps, step_size, correction2_sqrt) = (f(s.eps), f(s.step_size), f(s.correction2_sqrt));
    for (((p, m), v), &g) in params.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(grads) {
        *m = b1 * *m + c1 * g;
        *v = b2 * *v + c2 * g * g;
        *p = *p - step_size * *m / (v.sqrt() / correction2_sqrt + eps);
    }
}

/// What the forward pass leaves for the backward pass.
#[derive(Clone, Debug)]
pub struct Forward<F> {
    /// `g1: H × N`
    pub g1: Vec<F>,
    /// `s1: H × N`
    pub s1: Vec<F>,
    /// `g2: 1 × N`
    pub g2: Vec<F>,
    /// `s2: 1 × N`, the predictions
    pub s2: Vec<F>,
}

/// G1 = W1·Xᵀ + B1, S1 = σ(G1), G2 = W2·S1 + B2, S2 = σ(G2). `xt: 2 × N`.
pub fn forward<F: Float>(p: &Params<F>, xt: &[F]) -> Forward<F> {
    let (h, n) = (p.hidden, xt.len() / 2);
    let mut g1 = matmul(&p.w1, false, xt, false, h, 2, n);
    add_bias(&mut g1, &p.b1, n);
    let s1 = sigmoid(&g1);
    let mut g2 = matmul(&p.w2, false, &s1, false, 1, h, n);
    add_bias(&mut g2, &p.b2, n);
    let s2 = sigmoid(&g2);
    Forward { g1, s1, g2, s2 }
}

/// The chain rule of the math note: element-wise factors first, then the one matrix
/// product that sums over the batch. Returns the gradients in the parameters' shapes.
pub fn backward<F: Float>(p: &Params<F>, xt: &[F], t: &[F], f: &Forward<F>) -> Params<F> {
    let (h, n) = (p.hidden, t.len());
    let d_s2 = bce_grad(&f.s2, t); // 1 × N
    let d_g2 = sigmoid_backward(&d_s2, &f.s2); // 1 × N
    let d_w2 = matmul(&d_g2, false, &f.s1, true, 1, n, h); // dG2 · S1ᵀ: 1 × H
    let d_b2 = sum_rows(&d_g2, n); // 1 × 1
    let d_s1 = matmul(&p.w2, true, &d_g2, false, h, 1, n); // W2ᵀ · dG2: H × N
    let d_g1 = sigmoid_backward(&d_s1, &f.s1); // H × N
    let d_w1 = matmul(&d_g1, false, xt, true, h, n, 2); // dG1 · X: H × 2
    let d_b1 = sum_rows(&d_g1, n); // H × 1
    Params { hidden: h, w1: d_w1, b1: d_b1, w2: d_w2, b2: d_b2 }
}

/// The loss of `p` on a batch.
pub fn loss<F: Float>(p: &Params<F>, xt: &[F], t: &[F]) -> F {
    bce_loss(&forward(p, xt).s2, t)
}

/// One epoch of full-batch gradient descent; returns the loss before the update.
pub fn epoch<F: Float>(p: &mut Params<F>, xt: &[F], t: &[F], lr: F) -> F {
    let f = forward(p, xt);
    let loss = bce_loss(&f.s2, t);
    let g = backward(p, xt, t, &f);
    sgd_update(&mut p.w1, &g.w1, lr);
    sgd_update(&mut p.b1, &g.b1, lr);
    sgd_update(&mut p.w2, &g.w2, lr);
    sgd_update(&mut p.b2, &g.b2, lr);
    loss
}

/// The reference trainer behind `--backend cpu`.
pub struct CpuTrainer {
    params: Params<f32>,
    data: Dataset,
    lr: f32,
}

impl CpuTrainer {
    pub fn new(params: Params<f32>, data: Dataset, lr: f32) -> Self {
        CpuTrainer { params, data, lr }
    }
}

impl crate::train::Trainer for CpuTrainer {
    /// The data and the weights (an epoch's activations come and go).
    fn memory_bytes(&self) -> u64 {
        ((self.data.xt.len() + self.data.t.len() + self.params.iter().count()) * 4) as u64
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), crate::Error> {
        for l in losses {
            *l = epoch(&mut self.params, &self.data.xt, &self.data.t, self.lr);
        }
        Ok(())
    }

    fn mlp(&mut self) -> Result<crate::net::Mlp, crate::Error> {
        Ok(crate::net::Mlp::from_params(&self.params()?))
    }

    fn loss(&mut self) -> Result<f32, crate::Error> {
        Ok(loss(&self.params, &self.data.xt, &self.data.t))
    }

    fn gradients(&mut self) -> Result<Vec<f32>, crate::Error> {
        let (xt, t) = (&self.data.xt, &self.data.t);
        Ok(backward(&self.params, xt, t, &forward(&self.params, xt)).iter().collect())
    }
}

impl CpuTrainer {
    /// The current weights in the 2-H-1 form.
    pub fn params(&mut self) -> Result<Params<f32>, crate::Error> {
        Ok(self.params.clone())
    }
}
