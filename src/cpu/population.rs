//! `train_population`'s CPU twin (`shaders/population.wgsl`): a group of networks of one
//! width, each on its own SIMD lane, sixteen (AVX-512) or eight at a time, rayon over the
//! lane groups. Each lane runs the reference's epoch for its own net: [`super::mlp`]'s
//! operations in its order, f32 values with sums in f64, and [`super::exact`]'s exp, tanh
//! and log, which round as the reference's do. So a lane ends with the reference's weights
//! bit for bit (tests/population.rs), and no lane reads another: the same result for any
//! thread count and any grouping.

use rayon::prelude::*;

use super::exact::{ln, sigmoid, tanh};
use super::{GRAD_EPS, LOG_CLAMP, MIN_NORMAL};
use crate::data::Dataset;
use crate::net::optim::{adam_corrections, decimal, AdamStep, OptimizerKind};
use crate::net::Activation;
use crate::population::{Group, Setup, Status, NONE};
use crate::train::WEIGHT_BOUND;

/// The reference's clamped log ([`super::clamped_log`]) with [`super::exact::ln`].
#[inline(always)]
fn clamped_log(p: f32) -> f32 {
    if p < MIN_NORMAL {
        LOG_CLAMP
    } else {
        ln(p)
    }
}

/// The hidden activation and its backward from the output, per lane.
trait Act {
    fn f(z: f32) -> f32;
    fn back(d: f32, y: f32) -> f32;
}

struct Sigmoid;
impl Act for Sigmoid {
    #[inline(always)]
    fn f(z: f32) -> f32 {
        sigmoid(z)
    }
    #[inline(always)]
    fn back(d: f32, y: f32) -> f32 {
        d * y * (1.0 - y)
    }
}

struct Tanh;
impl Act for Tanh {
    #[inline(always)]
    fn f(z: f32) -> f32 {
        tanh(z)
    }
    #[inline(always)]
    fn back(d: f32, y: f32) -> f32 {
        d * (1.0 - y * y)
    }
}

struct Relu;
impl Act for Relu {
    #[inline(always)]
    fn f(z: f32) -> f32 {
        // A NaN stays NaN, so divergence shows.
        if z < 0.0 {
            0.0
        } else {
            z
        }
    }
    #[inline(always)]
    fn back(d: f32, y: f32) -> f32 {
        if y > 0.0 {
            d
        } else {
            0.0
        }
    }
}

/// Runs epochs `start + 1 ..= end` of every network of `group` that has not stopped: at
/// each, the forward pass on the weights after `e` updates (the success test and the
/// divergence test on its loss), then the update. Where `end` is the run's last epoch, the
/// final weights are evaluated too. `start < end ≤ setup.epochs`.
pub fn train_population(setup: &Setup, data: &Dataset, group: &mut Group, start: u64, end: u64) {
    train_population_lanes(setup, data, group, start, end, super::fast::wide_lanes())
}

/// [`train_population`] sixteen lanes a group where `wide` (and the CPU has AVX-512), else
/// eight: the tests run both, which must agree bit for bit.
pub fn train_population_lanes(setup: &Setup, data: &Dataset, group: &mut Group, start: u64, end: u64, wide: bool) {
    assert!(start < end && end <= setup.epochs, "epochs {start}..{end} of {}", setup.epochs);
    assert_eq!(data.inputs(), setup.inputs, "the data's inputs");
    let wide = wide && super::fast::wide_lanes();
    let lanes = if wide { 16 } else { 8 };
    let p = setup.net(group.hidden).param_count();
    let hidden = group.hidden;
    let groups = group.len().div_ceil(lanes);
    // A state vector the rule does not keep is empty: each lane group gets an empty slice.
    fn split(x: &mut [f32], groups: usize, size: usize) -> Vec<&mut [f32]> {
        if x.is_empty() {
            (0..groups).map(|_| &mut [][..]).collect()
        } else {
            x.chunks_mut(size).collect()
        }
    }
    let rates: Vec<(f32, f64)> = group.distinct_rates().into_iter().map(|r| (r, decimal(r))).collect();
    let (m, v) = (split(&mut group.m, groups, lanes * p), split(&mut group.v, groups, lanes * p));
    let mu = decimal(setup.optimizer.momentum) as f32;
    let adam = setup.optimizer.adam_step(1);
    group
        .params
        .par_chunks_mut(lanes * p)
        .zip(m.into_par_iter().zip(v.into_par_iter()))
        .zip(group.lr.par_chunks(lanes))
        .zip(group.status.par_chunks_mut(lanes))
        .for_each(|(((w, (m, v)), lr), status)| {
            let job = Job { setup, data, hidden, p, start, end, mu, adam, rates: &rates };
            let mut lanes = Lanes { w, m, v, lr, status };
            #[cfg(target_arch = "x86_64")]
            if wide {
                // SAFETY: wide_lanes() found AVX-512 on this CPU.
                unsafe { job.run_avx512(&mut lanes) };
                return;
            }
            job.dispatch::<8>(&mut lanes);
        });
}

/// One lane group's networks: parameters and state vectors network-major, rates, statuses.
struct Lanes<'a> {
    w: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    lr: &'a [f32],
    status: &'a mut [Status],
}

/// One lane group's work, and what it shares with the others.
struct Job<'a> {
    setup: &'a Setup,
    data: &'a Dataset,
    hidden: usize,
    p: usize,
    start: u64,
    end: u64,
    /// μ as the reference takes it, and Adam's shared scalars (taken once: `decimal`
    /// formats and parses, too slow for every lane group's every block).
    mu: f32,
    adam: AdamStep,
    /// The group's distinct rates with their decimals.
    rates: &'a [(f32, f64)],
}

impl Job<'_> {
    fn decimal_of(&self, lr: f32) -> f64 {
        self.rates.iter().find(|(r, _)| r.to_bits() == lr.to_bits()).expect("every rate is among the group's").1
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,fma")]
    unsafe fn run_avx512(&self, lanes: &mut Lanes) {
        self.dispatch::<16>(lanes)
    }

    #[inline(always)]
    fn dispatch<const L: usize>(&self, lanes: &mut Lanes) {
        match self.setup.activation {
            Activation::Sigmoid => self.run::<L, Sigmoid>(lanes),
            Activation::Tanh => self.run::<L, Tanh>(lanes),
            Activation::Relu => self.run::<L, Relu>(lanes),
        }
    }

    /// The epochs of up to `L` networks (`lr.len()`), their parameters network-major in `w`.
    #[inline(always)]
    fn run<const L: usize, A: Act>(&self, lanes: &mut Lanes) {
        let Lanes { w, m, v, lr, status } = lanes;
        let (h, d, p) = (self.hidden, self.setup.inputs, self.p);
        let count = lr.len();
        let kind = self.setup.optimizer.kind;
        // Offsets in the packed `[W1 | B1 | W2 | B2]`.
        let (b1, w2, b2) = (h * d, h * d + h, h * d + 2 * h);
        // Lane-major copies: wl[i][k] is parameter i of network k. Lanes past `count` hold
        // zeros and never update.
        let to_lanes = |x: &[f32]| {
            let mut l = vec![[0.0f32; L]; p];
            if !x.is_empty() {
                for k in 0..count {
                    for i in 0..p {
                        l[i][k] = x[k * p + i];
                    }
                }
            }
            l
        };
        let (mut wl, mut ml, mut vl) = (to_lanes(w), to_lanes(m), to_lanes(v));
        let mut rate = [0.0f32; L];
        rate[..count].copy_from_slice(&lr[..count]);
        let mut active = [false; L];
        for k in 0..count {
            active[k] = !status[k].stopped(self.setup.stop_at_success);
        }
        let mut grads = vec![[0.0f64; L]; p];
        let mut s1 = vec![[0.0f32; L]; h];
        let n = self.data.len();
        let n_f = n as f32;
        let (xt, t) = (&self.data.xt, &self.data.t);
        let (mu, adam) = (self.mu, &self.adam);
        // Adam's scalars as the reference takes them (Optimizer::adam_step, then f32): the
        // β's and ε shared, the step size per network from its rate's decimal.
        let (beta1, beta2) = (adam.beta1 as f32, adam.beta2 as f32);
        let (one_minus_beta1, one_minus_beta2, eps) =
            (adam.one_minus_beta1 as f32, adam.one_minus_beta2 as f32, adam.eps as f32);
        let mut lr_decimal = [0.0f64; L];
        for k in 0..count {
            lr_decimal[k] = self.decimal_of(lr[k]);
        }
        let total = self.setup.epochs;
        // The loss test without a log a sample: −(1/N)·Σ ln q < target ⇔ Π q > e^(−N·target),
        // the product in f64 (q below the smallest normal float counting as e^(−100), the
        // clamped log's value). It and the logged loss can differ only where the loss is
        // within rounding of the target. Past e^(−700) the product could underflow: there
        // the logs are taken every epoch.
        let threshold = (-(n as f64) * self.setup.target_loss as f64).exp();
        let always_log = -(n as f64) * (self.setup.target_loss as f64) < -700.0;
        let clamp_q = (LOG_CLAMP as f64).exp();
        let mut qs = vec![[0.0f32; L]; n];
        let mut e = self.start;
        while active.iter().any(|&a| a) {
            let backward = e < total;
            grads.iter_mut().for_each(|g| *g = [0.0; L]);
            let mut product = [1.0f64; L];
            let mut right = [true; L];
            for s in 0..n {
                let tn = t[s];
                // Each sum as the reference's matmul takes it: f32 products added in f64
                // in order, rounded once; then the bias added in f32.
                let mut g2 = [0.0f64; L];
                for j in 0..h {
                    let mut z = [0.0f64; L];
                    for c in 0..d {
                        let x = xt[c * n + s];
                        let wc = wl[j * d + c];
                        for k in 0..L {
                            z[k] += (wc[k] * x) as f64;
                        }
                    }
                    let (bj, vj) = (wl[b1 + j], wl[w2 + j]);
                    let mut a = [0.0f32; L];
                    for k in 0..L {
                        a[k] = A::f(z[k] as f32 + bj[k]);
                        g2[k] += (vj[k] * a[k]) as f64;
                    }
                    s1[j] = a;
                }
                let mut dz2 = [0.0f32; L];
                let bias2 = wl[b2];
                for k in 0..L {
                    let s2 = sigmoid(g2[k] as f32 + bias2[k]);
                    right[k] &= (s2 >= 0.5) == (tn >= 0.5);
                    // The probability of the right label; its log is the sample's loss term.
                    let q = if tn > 0.5 { s2 } else { 1.0 - s2 };
                    qs[s][k] = q;
                    product[k] *= if q < MIN_NORMAL { clamp_q } else { q as f64 };
                    // bce_grad (PyTorch's guarded divisor), then back through the sigmoid.
                    let d_a = (s2 - tn) / (s2 * (1.0 - s2)).max(GRAD_EPS) / n_f;
                    dz2[k] = d_a * s2 * (1.0 - s2);
                }
                if !backward {
                    continue;
                }
                for k in 0..L {
                    grads[b2][k] += dz2[k] as f64;
                }
                for j in 0..h {
                    let (a, vj) = (s1[j], wl[w2 + j]);
                    let mut dz1 = [0.0f32; L];
                    for k in 0..L {
                        grads[w2 + j][k] += (dz2[k] * a[k]) as f64;
                        dz1[k] = A::back(vj[k] * dz2[k], a[k]);
                        grads[b1 + j][k] += dz1[k] as f64;
                    }
                    for c in 0..d {
                        let x = xt[c * n + s];
                        let g = &mut grads[j * d + c];
                        for k in 0..L {
                            g[k] += (dz1[k] * x) as f64;
                        }
                    }
                }
            }
            // The loss itself where it is reported or decides: at the end, at a stop, or
            // where the product cannot.
            let passes = |k: usize| right[k] && product[k] > threshold;
            // Where the product lies within 1e-4 of the threshold it could disagree with the
            // reference's f32 loss (whose rounding moves N·loss by far less than that): the
            // loss decides there, so a lane's answer never depends on its neighbours.
            let near = |k: usize| right[k] && (product[k] / threshold - 1.0).abs() < 1e-4;
            let needs_log = |k: usize| e == total || always_log || near(k) || (self.setup.stop_at_success && passes(k));
            let logged = (0..count).any(|k| active[k] && needs_log(k));
            let mut log_sum = [0.0f64; L];
            if logged {
                for q in &qs {
                    for k in 0..L {
                        // t·log p + (1 − t)·log(1 − p) for a label of 0 or 1.
                        log_sum[k] += clamped_log(q[k]) as f64;
                    }
                }
            }
            for k in 0..count {
                if !active[k] {
                    continue;
                }
                let st = &mut status[k];
                // A NaN q (and only that) makes the loss not a number.
                if product[k].is_nan() {
                    st.loss = f32::NAN;
                    st.diverged = e as u32;
                    st.held = 0;
                    active[k] = false;
                    continue;
                }
                st.held = if needs_log(k) {
                    st.loss = -(log_sum[k] as f32) / n_f;
                    (right[k] && st.loss < self.setup.target_loss) as u32
                } else {
                    passes(k) as u32
                };
                if st.held == 1 && st.success == NONE {
                    st.success = e as u32;
                }
                if st.held == 1 && self.setup.stop_at_success {
                    active[k] = false;
                }
            }
            if e == total {
                break;
            }
            // Adam's step t = e + 1: lr/(1 − β₁ᵗ) and √(1 − β₂ᵗ) in f64, as adam_step.
            let mut step_size = [0.0f32; L];
            let mut correction2_sqrt = 0.0f32;
            if kind == OptimizerKind::Adam {
                let (bias1, c2) = adam_corrections(adam.beta1, adam.beta2, e + 1);
                for k in 0..L {
                    step_size[k] = (lr_decimal[k] / bias1) as f32;
                }
                correction2_sqrt = c2 as f32;
            }
            let mut ok = [true; L];
            for i in 0..p {
                let (wi, mi, vi, gi) = (&mut wl[i], &mut ml[i], &mut vl[i], &grads[i]);
                // The reference's rules (cpu::sgd_update, momentum_update, adam_update), a
                // loop each, every store under the lane's mask, so that each vectorises.
                match kind {
                    OptimizerKind::Sgd => {
                        for k in 0..L {
                            let next = wi[k] - rate[k] * gi[k] as f32;
                            if active[k] {
                                wi[k] = next;
                            }
                            ok[k] &= next.abs() <= WEIGHT_BOUND;
                        }
                    }
                    OptimizerKind::Momentum => {
                        for k in 0..L {
                            let v = mu * vi[k] + gi[k] as f32;
                            let next = wi[k] - rate[k] * v;
                            if active[k] {
                                wi[k] = next;
                                vi[k] = v;
                            }
                            ok[k] &= next.abs() <= WEIGHT_BOUND;
                        }
                    }
                    OptimizerKind::Adam => {
                        for k in 0..L {
                            let g = gi[k] as f32;
                            let m = beta1 * mi[k] + one_minus_beta1 * g;
                            let v = beta2 * vi[k] + one_minus_beta2 * g * g;
                            let next = wi[k] - step_size[k] * m / (v.sqrt() / correction2_sqrt + eps);
                            if active[k] {
                                wi[k] = next;
                                mi[k] = m;
                                vi[k] = v;
                            }
                            ok[k] &= next.abs() <= WEIGHT_BOUND;
                        }
                    }
                }
            }
            e += 1;
            for k in 0..count {
                if !active[k] || ok[k] {
                    continue;
                }
                status[k].diverged = e as u32;
                status[k].held = 0;
                active[k] = false;
            }
            if e == self.end && e < total {
                break;
            }
        }
        for (x, l) in [(&mut **w, &wl), (&mut **m, &ml), (&mut **v, &vl)] {
            if !x.is_empty() {
                for k in 0..count {
                    for i in 0..p {
                        x[k * p + i] = l[i][k];
                    }
                }
            }
        }
    }
}
