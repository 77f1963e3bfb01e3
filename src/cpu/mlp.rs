//! The reference for any MLP (the math note's "Deeper nets"), layer by layer with the
//! kernels of [`super`]: per layer `matmul`, `add_bias`, the activation and its backward,
//! then `bce_loss`, `bce_grad`, `sum_rows`, `l2_grad` and one update per optimizer. The
//! GPU's step path dispatches the same kernels in the same order (`src/gpu/step.rs`).

use std::sync::Arc;

use num_traits::Float;

use super::{
    activate, activate_backward, adam_update, add_bias, bce_grad, bce_loss, l2_grad, matmul, momentum_update,
    sgd_update, sigmoid, sigmoid_backward, sum_rows,
};
use crate::data::Dataset;
use crate::net::optim::{decimal, OptState, Optimizer, OptimizerKind};
use crate::net::Mlp;
use crate::train::Trainer;
use crate::Error;

/// A hyper-parameter as the decimal the user wrote, in the float type.
fn c<F: Float>(x: f32) -> F {
    F::from(decimal(x)).expect("f64 fits every float type")
}

/// The activations `A_1 … A_L` (`a[l − 1]: d_l × N`) of the inputs `xt: d₀ × N`; the
/// last is the prediction.
pub fn forward<F: Float>(m: &Mlp<F>, xt: &[F]) -> Vec<Vec<F>> {
    let layers = m.net.layers();
    let n = xt.len() / m.net.inputs();
    let mut a: Vec<Vec<F>> = Vec::with_capacity(layers);
    for l in 1..=layers {
        let s = m.net.layer(l);
        let input = if l == 1 { xt } else { &a[l - 2] };
        let mut z = matmul(m.w(l), false, input, false, s.rows, s.cols, n); // Z_l = W_l·A_{l−1}
        add_bias(&mut z, m.b(l), n); // + B_l
        a.push(if l == layers { sigmoid(&z) } else { activate(m.net.activation, &z) });
    }
    a
}

/// The twin of `forward_points` (`shaders/points.wgsl`): the predictions at the points
/// `xt: d₀ × P`, and each `shown` hidden unit's `(layer, unit)` outputs there (layer 1-based).
pub fn forward_points<F: Float>(m: &Mlp<F>, xt: &[F], shown: &[(usize, usize)]) -> (Vec<F>, Vec<Vec<F>>) {
    let mut a = forward(m, xt);
    let p = xt.len() / m.net.inputs();
    let units = shown.iter().map(|&(l, u)| a[l - 1][u * p..(u + 1) * p].to_vec()).collect();
    (a.pop().expect("one layer or more"), units)
}

/// Loss and accuracy of a model on a set.
#[derive(Clone, Copy, Debug)]
pub struct Score {
    pub loss: f32,
    pub accuracy: f64,
    /// Samples whose prediction is not a number: weights that overflow f32 in the forward
    /// pass (the loss's clamp would pass such a prediction off as a confident mistake).
    pub not_a_number: usize,
}

/// The mean BCE and the share of samples on the right side of 0.5, of `m` on `data`. In
/// pieces, so a batch of millions needs no more memory than a piece's activations: a few
/// MB, well below what training itself holds, so a run's peak (which tests/memory.rs
/// measures per sample) stays the training's.
pub fn score(m: &Mlp, data: &Dataset) -> Score {
    score_head(m, data, data.len())
}

/// [`score`] on the first `n` samples of `data`.
pub fn score_head(m: &Mlp, data: &Dataset, n: usize) -> Score {
    const PIECE: usize = 1 << 14;
    let n = n.min(data.len());
    let (mut log_sum, mut right, mut not_a_number) = (0.0f64, 0usize, 0usize);
    for start in (0..n).step_by(PIECE) {
        let piece = data.slice(start, (start + PIECE).min(n));
        let p = predict(m, &piece.xt);
        log_sum += bce_loss(&p, &piece.t) as f64 * piece.len() as f64;
        right += p.iter().zip(&piece.t).filter(|(p, t)| (**p >= 0.5) == (**t >= 0.5)).count();
        not_a_number += p.iter().filter(|p| p.is_nan()).count();
    }
    Score { loss: (log_sum / n as f64) as f32, accuracy: right as f64 / n as f64, not_a_number }
}

/// The predictions `A_L: 1 × N`.
pub fn predict<F: Float>(m: &Mlp<F>, xt: &[F]) -> Vec<F> {
    forward(m, xt).pop().expect("one layer or more")
}

/// The gradient of the mean BCE, packed like the parameters: the chain rule from
/// `dZ_L` (PyTorch's guarded `bce_grad`, then back through the output sigmoid) down to
/// layer 1, each `dW_l = dZ_l · A_{l−1}ᵀ` the one product that sums over the batch.
pub fn backward<F: Float>(m: &Mlp<F>, xt: &[F], t: &[F], a: &[Vec<F>]) -> Vec<F> {
    let (layers, n) = (m.net.layers(), t.len());
    let mut grads = vec![F::zero(); m.net.param_count()];
    let d_a = bce_grad(&a[layers - 1], t); // 1 × N
    let mut d_z = sigmoid_backward(&d_a, &a[layers - 1]); // dZ_L: 1 × N
    for l in (1..=layers).rev() {
        let s = m.net.layer(l);
        let input = if l == 1 { xt } else { &a[l - 2] };
        let d_w = matmul(&d_z, false, input, true, s.rows, n, s.cols); // dZ_l·A_{l−1}ᵀ
        grads[s.w..s.b].copy_from_slice(&d_w);
        grads[s.b..s.b + s.rows].copy_from_slice(&sum_rows(&d_z, n)); // Σₙ dZ_l
        if l > 1 {
            let d_a = matmul(m.w(l), true, &d_z, false, s.cols, s.rows, n); // W_lᵀ·dZ_l
            d_z = activate_backward(m.net.activation, &d_a, &a[l - 2]);
        }
    }
    grads
}

/// The loss of `m` on a batch.
pub fn loss<F: Float>(m: &Mlp<F>, xt: &[F], t: &[F]) -> F {
    bce_loss(&predict(m, xt), t)
}

/// One update: L2 added to each layer's weight gradients, then the optimizer's rule.
pub fn update<F: Float>(m: &mut Mlp<F>, grads: &mut [F], opt: &Optimizer, state: &mut OptState<F>) {
    if opt.l2 > 0.0 {
        for s in m.net.shapes() {
            l2_grad(&mut grads[s.w..s.b], &m.params[s.w..s.b], c(opt.l2));
        }
    }
    state.step += 1;
    match opt.kind {
        OptimizerKind::Sgd => sgd_update(&mut m.params, grads, c(opt.lr)),
        OptimizerKind::Momentum => momentum_update(&mut m.params, &mut state.v, grads, c(opt.lr), c(opt.momentum)),
        OptimizerKind::Adam => {
            adam_update(&mut m.params, &mut state.m, &mut state.v, grads, &opt.adam_step(state.step))
        }
    }
}

/// One epoch of full-batch training; returns the loss before the update.
pub fn epoch<F: Float>(m: &mut Mlp<F>, xt: &[F], t: &[F], opt: &Optimizer, state: &mut OptState<F>) -> F {
    let a = forward(m, xt);
    let loss = bce_loss(&a[a.len() - 1], t);
    let mut grads = backward(m, xt, t, &a);
    update(m, &mut grads, opt, state);
    loss
}

/// The reference trainer for any net, on the CPU.
pub struct MlpCpuTrainer {
    mlp: Mlp,
    /// Shared, so the caller can score the trained model on the same samples without a copy.
    data: Arc<Dataset>,
    opt: Optimizer,
    state: OptState,
}

impl MlpCpuTrainer {
    /// `state`: where a saved run left its optimizer (`None`: a fresh start).
    pub fn new(mlp: Mlp, data: impl Into<Arc<Dataset>>, opt: Optimizer, state: Option<OptState>) -> Self {
        let data = data.into();
        let state = state.unwrap_or_else(|| OptState::new(opt.kind, mlp.net.param_count()));
        MlpCpuTrainer { mlp, data, opt, state }
    }
}

impl Trainer for MlpCpuTrainer {
    /// The data, the weights and the optimizer's state (an epoch's activations come and go).
    fn memory_bytes(&self) -> u64 {
        let floats = self.data.xt.len() + self.data.t.len() + self.mlp.params.len();
        ((floats + self.state.m.len() + self.state.v.len()) * 4) as u64
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        for l in losses {
            *l = epoch(&mut self.mlp, &self.data.xt, &self.data.t, &self.opt, &mut self.state);
        }
        Ok(())
    }

    fn mlp(&mut self) -> Result<Mlp, Error> {
        Ok(self.mlp.clone())
    }

    fn optimizer_state(&mut self) -> Result<OptState, Error> {
        Ok(self.state.clone())
    }

    fn loss(&mut self) -> Result<f32, Error> {
        Ok(loss(&self.mlp, &self.data.xt, &self.data.t))
    }

    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        let (xt, t) = (&self.data.xt, &self.data.t);
        Ok(backward(&self.mlp, xt, t, &forward(&self.mlp, xt)))
    }
}
