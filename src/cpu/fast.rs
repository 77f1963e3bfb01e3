//! The fast CPU backend: what `--backend cpu` trains with, a fair opponent for the GPU.
//!
//! One pass over the data per epoch, fused: each sample's forward pass, loss and backward
//! pass happen in registers, eight samples at a time in lanes the compiler vectorises
//! (the exponentials and logs are the polynomials of [`super::approx`]); nothing per sample
//! is stored. The batch is cut into fixed chunks that rayon spreads over every core; each
//! chunk's sums come back in chunk order and are added in that order, so the result does
//! not depend on the number of threads. The plain reference in [`super`] stays the tests'
//! yardstick.

use std::sync::Arc;

use rayon::prelude::*;

use super::approx;
use crate::data::Dataset;
use crate::model::{Layout, Params};
use crate::train::Trainer;
use crate::Error;

/// Samples per lane group: eight f32 fill a 256-bit vector (AVX2, the build's baseline);
/// sixteen fill a 512-bit one where the CPU has AVX-512, chosen at run time.
const MAX_LANES: usize = 16;
/// Samples per parallel chunk: big enough to amortise a task, small enough that a 2^20
/// batch still splits into hundreds of chunks for any core count.
const CHUNK: usize = 4096;

#[inline(always)]
pub(super) fn sigmoid(z: f32) -> f32 {
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
pub(super) fn clamped_log(p: f32) -> f32 {
    if p < super::MIN_NORMAL {
        super::LOG_CLAMP
    } else {
        approx::ln(p)
    }
}

/// Per-chunk sums: the P gradient terms in packed order, then the loss term.
/// Per-lane working space of [`chunk_sums`], reused so that a tiny batch's epoch allocates
/// nothing; sized for the widest lane groups and viewed as `[f32; L]` rows.
#[derive(Clone)]
struct Lanes {
    /// acc[v][lane]: each lane adds its own samples' terms; lanes are added at the end.
    acc: Vec<f32>,
    /// s1[j][lane]: the hidden activations of the lane group in flight.
    s1: Vec<f32>,
}

impl Lanes {
    fn new(hidden: usize) -> Self {
        Lanes { acc: vec![0.0; (Layout::new(hidden).len + 1) * MAX_LANES], s1: vec![0.0; hidden * MAX_LANES] }
    }
}

/// The chunk's `P + 1` sums into `out`, `L` samples at a time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk_sums<const L: usize>(
    w: &[f32],
    hidden: usize,
    inv_n: f32,
    x1: &[f32],
    x2: &[f32],
    t: &[f32],
    lanes: &mut Lanes,
    out: &mut [f32],
) {
    const { assert!(L <= MAX_LANES) };
    let l = Layout::new(hidden);
    let p = l.len;
    let acc = &mut lanes.acc.as_chunks_mut::<L>().0[..p + 1];
    let s1 = &mut lanes.s1.as_chunks_mut::<L>().0[..hidden];
    acc.fill([0.0; L]);
    for start in (0..t.len()).step_by(L) {
        let mut xa = [0.0f32; L];
        let mut xb = [0.0f32; L];
        let mut tn = [0.0f32; L];
        // Padding lanes of a short last group get mask 0 and add nothing.
        let mut mask = [0.0f32; L];
        let count = L.min(t.len() - start);
        xa[..count].copy_from_slice(&x1[start..start + count]);
        xb[..count].copy_from_slice(&x2[start..start + count]);
        tn[..count].copy_from_slice(&t[start..start + count]);
        mask[..count].fill(1.0);

        // Lane arrays are copied into locals and back: the compiler then knows they do not
        // alias and keeps each in one vector register.
        let mut g2 = [w[l.b2]; L];
        for (j, s1_j) in s1.iter_mut().enumerate() {
            let (wa, wb, b, v) = (w[l.w1 + 2 * j], w[l.w1 + 2 * j + 1], w[l.b1 + j], w[l.w2 + j]);
            let mut s = [0.0f32; L];
            for k in 0..L {
                s[k] = sigmoid(wa * xa[k] + wb * xb[k] + b);
                g2[k] += v * s[k];
            }
            *s1_j = s;
        }
        let mut dg2 = [0.0f32; L];
        let mut loss = acc[p];
        let mut d_b2 = acc[l.b2];
        for k in 0..L {
            let s2 = sigmoid(g2[k]);
            // Labels are exactly 0 or 1, so t·log p + (1 − t)·log(1 − p) is one log.
            loss[k] += mask[k] * clamped_log(if tn[k] > 0.5 { s2 } else { 1.0 - s2 });
            dg2[k] = mask[k] * (s2 - tn[k]) * inv_n;
            d_b2[k] += dg2[k];
        }
        acc[p] = loss;
        acc[l.b2] = d_b2;
        for (j, &s) in s1.iter().enumerate() {
            let v = w[l.w2 + j];
            let (mut d_w2, mut d_w1a, mut d_w1b, mut d_b1) =
                (acc[l.w2 + j], acc[l.w1 + 2 * j], acc[l.w1 + 2 * j + 1], acc[l.b1 + j]);
            for k in 0..L {
                d_w2[k] += dg2[k] * s[k];
                let dg1 = v * dg2[k] * s[k] * (1.0 - s[k]);
                d_w1a[k] += dg1 * xa[k];
                d_w1b[k] += dg1 * xb[k];
                d_b1[k] += dg1;
            }
            acc[l.w2 + j] = d_w2;
            acc[l.w1 + 2 * j] = d_w1a;
            acc[l.w1 + 2 * j + 1] = d_w1b;
            acc[l.b1 + j] = d_b1;
        }
    }
    for (o, a) in out.iter_mut().zip(acc.iter()) {
        *o = lane_total(*a);
    }
}

/// The sum of a lane group's lanes as a tree (halves added pairwise): log2 L dependent adds
/// instead of L − 1, on the critical path of a small batch's epoch.
#[inline(always)]
fn lane_total<const L: usize>(mut a: [f32; L]) -> f32 {
    let mut width = L;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            a[k] += a[k + width];
        }
    }
    a[0]
}

/// [`chunk_sums`] compiled for AVX-512, sixteen samples a lane group.
///
/// # Safety
/// The CPU must have AVX-512F (checked by the caller at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
#[allow(clippy::too_many_arguments)]
unsafe fn chunk_sums_avx512(
    w: &[f32],
    hidden: usize,
    inv_n: f32,
    x1: &[f32],
    x2: &[f32],
    t: &[f32],
    lanes: &mut Lanes,
    out: &mut [f32],
) {
    chunk_sums::<16>(w, hidden, inv_n, x1, x2, t, lanes, out)
}

/// Whether this CPU runs the 16-lane version.
pub(crate) fn wide_lanes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The fast CPU trainer.
pub struct FastCpuTrainer {
    hidden: usize,
    /// Packed `[w1 | b1 | w2 | b2]`.
    w: Vec<f32>,
    /// Shared, so the caller can score the trained model on the same samples without a copy.
    data: Arc<Dataset>,
    lr: f32,
    /// `(P + 1) × chunks` sums, reused every epoch.
    sums: Vec<f32>,
    /// The `P + 1` totals over the chunks, reused every epoch.
    totals: Vec<f64>,
    lanes: Lanes,
    /// 16-lane groups (AVX-512) rather than 8.
    wide: bool,
    /// Batches of one lane group train in [`super::tiny`].
    tiny: bool,
}

impl FastCpuTrainer {
    pub fn new(params: Params, data: impl Into<Arc<Dataset>>, lr: f32) -> Self {
        let data = data.into();
        let p = Layout::new(params.hidden).len;
        let chunks = data.len().div_ceil(CHUNK).max(1);
        FastCpuTrainer {
            hidden: params.hidden,
            w: params.packed(),
            data,
            lr,
            sums: vec![0.0; (p + 1) * chunks],
            totals: vec![0.0; p + 1],
            lanes: Lanes::new(params.hidden),
            wide: wide_lanes(),
            tiny: true,
        }
    }

    /// The same, forced to 8-sample lane groups (as on a CPU without AVX-512), so that path
    /// is tested on any machine.
    pub fn narrow(params: Params, data: impl Into<Arc<Dataset>>, lr: f32) -> Self {
        FastCpuTrainer { wide: false, ..Self::new(params, data, lr) }
    }

    /// The same, with every batch on the general path, even one that [`super::tiny`] would
    /// take, so that the two can be held to each other.
    pub fn general(params: Params, data: impl Into<Arc<Dataset>>, lr: f32) -> Self {
        FastCpuTrainer { tiny: false, ..Self::new(params, data, lr) }
    }

    /// Gradient and loss of the current weights into `self.totals`: `P + 1` sums in packed
    /// order, the loss sum last.
    fn compute_totals(&mut self) {
        let n = self.data.len();
        let (x1, x2) = self.data.xt.split_at(n);
        let t = &self.data.t;
        let (w, hidden) = (&self.w, self.hidden);
        let inv_n = 1.0 / n as f32;
        let width = w.len() + 1;
        let wide = self.wide;
        let work = |lanes: &mut Lanes, (c, out): (usize, &mut [f32])| {
            let r = c * CHUNK..((c + 1) * CHUNK).min(n);
            let (x1, x2, t) = (&x1[r.clone()], &x2[r.clone()], &t[r]);
            // A chunk of a few samples fills 8 lanes better than 16.
            #[cfg(target_arch = "x86_64")]
            if wide && t.len() >= 64 {
                // SAFETY: `wide` is true only where the CPU reported AVX-512.
                return unsafe { chunk_sums_avx512(w, hidden, inv_n, x1, x2, t, lanes, out) };
            }
            let _ = wide;
            chunk_sums::<8>(w, hidden, inv_n, x1, x2, t, lanes, out)
        };
        if n <= CHUNK {
            // One chunk: handing it to the thread pool would cost more than the work.
            work(&mut self.lanes, (0, &mut self.sums[..]));
        } else {
            let lanes = &self.lanes;
            self.sums.par_chunks_mut(width).enumerate().for_each_init(|| lanes.clone(), work);
        }
        self.totals.fill(0.0);
        for chunk in self.sums.chunks(width) {
            for (t, &s) in self.totals.iter_mut().zip(chunk) {
                *t += s as f64;
            }
        }
    }

    /// The mean loss from the totals, NaN if any total is not finite: the polynomial log
    /// does not propagate NaN, so a diverging run is caught by its sums instead.
    fn checked_loss(&self, n: f64) -> f32 {
        if self.totals.iter().all(|t| t.is_finite()) {
            (-self.totals[self.w.len()] / n) as f32
        } else {
            f32::NAN
        }
    }
}

impl Trainer for FastCpuTrainer {
    /// The data, the weights and the per-chunk sums.
    fn memory_bytes(&self) -> u64 {
        ((self.data.xt.len() + self.data.t.len() + self.sums.len() + self.w.len()) * 4) as u64
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        if self.tiny && super::tiny::train(self.hidden, &mut self.w, &self.data, self.lr, losses) {
            return Ok(());
        }
        let n = self.data.len() as f64;
        for loss in losses {
            self.compute_totals();
            *loss = self.checked_loss(n);
            for (w, &g) in self.w.iter_mut().zip(&self.totals) {
                *w -= self.lr * g as f32;
            }
        }
        Ok(())
    }

    fn mlp(&mut self) -> Result<crate::net::Mlp, Error> {
        Ok(crate::net::Mlp::from_params(&self.params()?))
    }

    fn loss(&mut self) -> Result<f32, Error> {
        let n = self.data.len() as f64;
        self.compute_totals();
        Ok(self.checked_loss(n))
    }

    /// The general path's gradient (a batch the register path takes trains from the same
    /// formulas, held to this one by the tests over whole runs).
    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        self.compute_totals();
        Ok(self.totals[..self.w.len()].iter().map(|&g| g as f32).collect())
    }
}

impl FastCpuTrainer {
    /// The current weights in the 2-H-1 form.
    pub fn params(&mut self) -> Result<Params, Error> {
        Ok(Params::unpack(self.hidden, &self.w))
    }
}
