//! The fast CPU backend: what `--backend cpu` trains with, a fair opponent for the GPU.
//!
//! One pass over the data per epoch, fused: each sample's forward pass, loss and backward
//! pass happen in registers, eight samples at a time in lanes the compiler vectorises
//! (the exponentials and logs are the polynomials of [`super::approx`]); nothing per sample
//! is stored. The batch is cut into fixed chunks that rayon spreads over every core; each
//! chunk's sums come back in chunk order and are added in that order, so the result does
//! not depend on the number of threads. The plain reference in [`super`] stays the tests'
//! yardstick.

use rayon::prelude::*;

use super::approx;
use crate::data::Dataset;
use crate::model::{Layout, Params};
use crate::train::Trainer;
use crate::Error;

/// Samples per lane group: eight f32 fill a 256-bit vector.
const LANES: usize = 8;
/// Samples per parallel chunk: big enough to amortise a task, small enough that a 2^20
/// batch still splits into hundreds of chunks for any core count.
const CHUNK: usize = 4096;

#[inline(always)]
fn sigmoid(z: f32) -> f32 {
    let e = approx::exp(-z.abs());
    let pos = 1.0 / (1.0 + e);
    // For z < 0, σ(z) = e^z / (1 + e^z): a product, not 1 − σ(−z), which would round
    // small values to 0.
    if z >= 0.0 {
        pos
    } else {
        e * pos
    }
}

#[inline(always)]
fn clamped_log(p: f32) -> f32 {
    if p < super::MIN_NORMAL {
        super::LOG_CLAMP
    } else {
        approx::ln(p)
    }
}

/// Per-chunk sums: the P gradient terms in packed order, then the loss term.
fn chunk_sums(w: &[f32], hidden: usize, inv_n: f32, x1: &[f32], x2: &[f32], t: &[f32], out: &mut [f32]) {
    let l = Layout::new(hidden);
    let p = l.len;
    // acc[v][lane]: each lane adds its own samples; lanes are added at the end.
    let mut acc = vec![[0.0f32; LANES]; p + 1];
    let mut s1 = vec![[0.0f32; LANES]; hidden];
    for start in (0..t.len()).step_by(LANES) {
        let mut xa = [0.0f32; LANES];
        let mut xb = [0.0f32; LANES];
        let mut tn = [0.0f32; LANES];
        // Padding lanes of a short last group get mask 0 and add nothing.
        let mut mask = [0.0f32; LANES];
        let count = LANES.min(t.len() - start);
        xa[..count].copy_from_slice(&x1[start..start + count]);
        xb[..count].copy_from_slice(&x2[start..start + count]);
        tn[..count].copy_from_slice(&t[start..start + count]);
        mask[..count].fill(1.0);

        let mut g2 = [w[l.b2]; LANES];
        for j in 0..hidden {
            let (wa, wb, b, v) = (w[l.w1 + 2 * j], w[l.w1 + 2 * j + 1], w[l.b1 + j], w[l.w2 + j]);
            for k in 0..LANES {
                let s = sigmoid(wa * xa[k] + wb * xb[k] + b);
                s1[j][k] = s;
                g2[k] += v * s;
            }
        }
        let mut dg2 = [0.0f32; LANES];
        for k in 0..LANES {
            let s2 = sigmoid(g2[k]);
            acc[p][k] += mask[k] * (tn[k] * clamped_log(s2) + (1.0 - tn[k]) * clamped_log(1.0 - s2));
            dg2[k] = mask[k] * (s2 - tn[k]) * inv_n;
            acc[l.b2][k] += dg2[k];
        }
        for j in 0..hidden {
            let v = w[l.w2 + j];
            for k in 0..LANES {
                let s = s1[j][k];
                acc[l.w2 + j][k] += dg2[k] * s;
                let dg1 = v * dg2[k] * s * (1.0 - s);
                acc[l.w1 + 2 * j][k] += dg1 * xa[k];
                acc[l.w1 + 2 * j + 1][k] += dg1 * xb[k];
                acc[l.b1 + j][k] += dg1;
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = a.iter().sum();
    }
}

/// The fast CPU trainer.
pub struct FastCpuTrainer {
    hidden: usize,
    /// Packed `[w1 | b1 | w2 | b2]`.
    w: Vec<f32>,
    data: Dataset,
    lr: f32,
    /// `(P + 1) × chunks` sums, reused every epoch.
    sums: Vec<f32>,
}

impl FastCpuTrainer {
    pub fn new(params: Params, data: Dataset, lr: f32) -> Self {
        let p = Layout::new(params.hidden).len;
        let chunks = data.len().div_ceil(CHUNK).max(1);
        FastCpuTrainer { hidden: params.hidden, w: params.packed(), data, lr, sums: vec![0.0; (p + 1) * chunks] }
    }

    /// Bytes of memory the run holds: the data and the per-chunk sums.
    pub fn memory_bytes(&self) -> u64 {
        ((self.data.xt.len() + self.data.t.len() + self.sums.len() + self.w.len()) * 4) as u64
    }

    /// Gradient and loss of the current weights: `(P + 1)` sums in packed order.
    fn totals(&mut self) -> Vec<f64> {
        let n = self.data.len();
        let (x1, x2) = self.data.xt.split_at(n);
        let t = &self.data.t;
        let (w, hidden) = (&self.w, self.hidden);
        let inv_n = 1.0 / n as f32;
        let width = w.len() + 1;
        let work = |(c, out): (usize, &mut [f32])| {
            let r = c * CHUNK..((c + 1) * CHUNK).min(n);
            chunk_sums(w, hidden, inv_n, &x1[r.clone()], &x2[r.clone()], &t[r], out);
        };
        if n <= CHUNK {
            // One chunk: handing it to the thread pool would cost more than the work.
            work((0, &mut self.sums[..]));
        } else {
            self.sums.par_chunks_mut(width).enumerate().for_each(work);
        }
        let mut totals = vec![0.0f64; width];
        for chunk in self.sums.chunks(width) {
            for (t, &s) in totals.iter_mut().zip(chunk) {
                *t += s as f64;
            }
        }
        totals
    }
}

impl Trainer for FastCpuTrainer {
    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        let n = self.data.len() as f64;
        for loss in losses {
            let totals = self.totals();
            let (grads, loss_sum) = totals.split_at(self.w.len());
            *loss = (-loss_sum[0] / n) as f32;
            for (w, &g) in self.w.iter_mut().zip(grads) {
                *w -= self.lr * g as f32;
            }
        }
        Ok(())
    }

    fn params(&mut self) -> Result<Params, Error> {
        Ok(Params::unpack(self.hidden, &self.w))
    }

    fn loss(&mut self) -> Result<f32, Error> {
        let n = self.data.len() as f64;
        Ok((-self.totals()[self.w.len()] / n) as f32)
    }
}
