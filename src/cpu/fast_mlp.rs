//! The fast CPU backend for any net: what `--backend cpu` trains every model with but the
//! 2-H-1 sigmoid net by plain SGD (which keeps [`super::fast`] and [`super::tiny`]).
//!
//! One pass over the data per epoch. The batch is cut into chunks ([`chunk_for`]): one for a
//! small batch, two shared by the caller's thread and a helper, or chunks of [`CHUNK`]
//! samples that rayon spreads over every core; a chunk is worked through in blocks of
//! [`BLOCK`] samples,
//! each block layer by layer in the math's feature-major layout (a row of a block is one
//! unit across its 64 samples), so every inner loop runs along the samples and vectorises:
//! a unit's pre-activation row is built in registers from the rows below it, one broadcast
//! weight at a time; `dW` is a dot product of two rows; `dA` is built like a forward row from
//! the rows above. Each is done for two units at a time, so a row read serves both. Activations use the polynomial `exp` and `ln` of [`super::approx`] (libm's
//! calls do not vectorise). The output's `dZ_L` is the reference's and PyTorch's guarded
//! form, `(A_L − T)/max(A_L(1 − A_L), 1e-12)/N · A_L(1 − A_L)`, not the `(A_L − T)/N` of the
//! fused 2-H-1 kernels: the two part where a prediction rounds to 0 or 1, which Adam's large
//! early steps on wide nets reach within an epoch or two. Each chunk's sums come back in
//! chunk order and are added in that order in f64, so the result does not depend on the
//! thread count.
//! The update is the reference's ([`super::mlp::update`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::fast::{clamped_log, sigmoid};
use super::{approx, mlp, GRAD_EPS};
use crate::data::Dataset;
use crate::net::optim::{OptState, Optimizer};
use crate::net::{Activation, Mlp, Net};
use crate::train::Trainer;
use crate::Error;

/// Samples per block: a row is four 512-bit (or eight 256-bit) vectors, few enough that a
/// row being built stays in registers.
pub const BLOCK: usize = 64;
/// Samples per parallel chunk: enough work to amortise a task (a 2-16-16-1 chunk is about
/// 3.7 Mflop), small enough that 2^16 samples make 32 of them.
pub const CHUNK: usize = 2048;

/// Samples per chunk for a batch of `n` samples of `net`: [`CHUNK`]; from [`SPLIT_WORK`] to
/// two chunks, half the batch in whole blocks, so two cores share even a small batch; below
/// that, the whole batch. A function of the batch and the net alone, never of the thread
/// count: the chunks, and the order their sums are added in, are the same on any machine.
///
/// A batch of two chunks is shared by the caller's thread and a helper (`run_epochs_paired`,
/// `Pair`). Through rayon, two chunks were no faster than one: from the caller's thread
/// each epoch waited on a condition variable (2-16-16-1 at 256 rows, two cores: 0.94·10⁷
/// samples/s against 1.37·10⁷ in one chunk), and from a pool thread the other worker, asleep,
/// woke too late to take the second chunk, so one thread ran both (one run measured 11 µs an
/// epoch, later ones 15–16, one thread busy). Paired, 2-16-16-1, medians of 5 in three runs,
/// µs an epoch in one chunk and in two: 256 rows 13.3–13.9 and 10.7–10.9; 512 rows 25.8–26.5
/// and 17.5–18.4; 1,024 rows 47–52 and 30.4–31.4. With the other core kept busy, in two
/// runs: 256 rows 14.2–14.7 and 16.8–18.3 (the helper gets the core late, and the caller
/// goes alone in stretches); 1,024 rows 62–74 and 50–59.
pub fn chunk_for(n: usize, net: &Net) -> usize {
    let work = n as u64 * (net.macs_per_sample() + SAMPLE_OVERHEAD);
    if n <= BLOCK || work < SPLIT_WORK {
        n.max(1)
    } else if n <= CHUNK_PAIR {
        n.div_ceil(2).div_ceil(BLOCK) * BLOCK
    } else {
        CHUNK
    }
}

/// An epoch's work, in multiply-adds, from which a batch is shared by two cores: about 14 µs
/// of one core. Below it the hand-off gains little on a quiet machine and costs more on a
/// busy one: 2-16-16-1 (880 multiply-adds a sample) at 128 rows took 7.7–8.0 µs an epoch in
/// one chunk and 7.4–7.6 in two, but with the other core busy 7.8–8.7 and 10–11.
pub const SPLIT_WORK: u64 = 200_000;
/// A sample's cost besides its multiply-adds (loading it, the loss, the activations), in
/// multiply-adds: 2-1 takes about 3 ns a sample, 2-16-16-1 about 60.
pub const SAMPLE_OVERHEAD: u64 = 48;

const CHUNK_PAIR: usize = 2 * CHUNK;

/// tanh z as the GPU kernel computes it: the odd Taylor series to z¹⁷ for |z| < 0.55, and
/// (1 − e)/(1 + e) with e = e^(−2|z|) beyond (see `shaders/common.wgsl`).
#[inline(always)]
fn tanh(z: f32) -> f32 {
    let a = z.abs();
    let z2 = z * z;
    let mut p = 0.000_590_027_4_f32;
    p = p.mul_add(z2, -0.001_455_834_4);
    p = p.mul_add(z2, 0.003_592_128);
    p = p.mul_add(z2, -0.008_863_236);
    p = p.mul_add(z2, 0.021_869_49);
    p = p.mul_add(z2, -0.053_968_254);
    p = p.mul_add(z2, 0.133_333_34);
    p = p.mul_add(z2, -0.333_333_34);
    let near = (z * z2).mul_add(p, z);
    let e = approx::exp(-2.0 * a);
    let far = ((1.0 - e) / (1.0 + e)).copysign(z);
    if a < 0.55 {
        near
    } else {
        far
    }
}

type Row = [f32; BLOCK];
/// Thirty-two partial sums of one value (two 512-bit vectors): a block adds its 64 terms
/// as two fused multiply-adds per lane, and the lanes are added at the end of a chunk in a
/// fixed order. Measured on 2-16-16-1 (samples/s at 256 and 2^16 rows): 64 slots, one add
/// each, 1.17·10⁷ and 2.48·10⁷ (four stores of the accumulator per four products); 32 slots
/// 1.53·10⁷ and 3.02·10⁷; 16 slots, chains of four, 1.28·10⁷ and 2.89·10⁷.
type Lanes = [f32; 32];

/// One thread's working space: a block's inputs, every layer's activations, and the
/// backward pass's two rows per unit.
struct Work {
    x: Vec<Row>,
    a: Vec<Vec<Row>>,
    d_a: Vec<Row>,
    d_z: Vec<Row>,
    t: Row,
    mask: Row,
    /// The chunk's `P + 1` sums in lanes: a block adds its 64 samples' terms lane-wise, and
    /// the lanes are added (and cleared) once a chunk: zero between chunks.
    acc: Vec<Lanes>,
}

impl Work {
    fn new(net: &Net) -> Self {
        let w = net.widest();
        Work {
            x: vec![[0.0; BLOCK]; net.inputs()],
            a: net.widths[1..].iter().map(|&d| vec![[0.0; BLOCK]; d]).collect(),
            d_a: vec![[0.0; BLOCK]; w],
            d_z: vec![[0.0; BLOCK]; w],
            t: [0.0; BLOCK],
            mask: [0.0; BLOCK],
            acc: vec![[0.0; 32]; net.param_count() + 1],
        }
    }
}

/// `z + Σᵢ wᵢ·rowsᵢ`, with `w(i)` the weight of row i: a forward row (`Z_j = B_j + Σᵢ
/// W[j,i]·A_i`) or a backward one (`dA_i = Σⱼ W[j,i]·dZ_j`). The row being built is four
/// 16-wide pieces held as separate values, which the compiler keeps in registers across the
/// loop (as one 64-wide array it went through the stack every step, and the store-to-load
/// chain took 43% of an epoch).
#[inline(always)]
fn weighted_rows(start: f32, rows: &[Row], w: impl Fn(usize) -> f32) -> Row {
    let (mut z0, mut z1, mut z2, mut z3) = ([start; 16], [start; 16], [start; 16], [start; 16]);
    for (i, r) in rows.iter().enumerate() {
        let wi = w(i);
        let (r0, rest) = r.split_at(16);
        let (r1, rest) = rest.split_at(16);
        let (r2, r3) = rest.split_at(16);
        for k in 0..16 {
            z0[k] = wi.mul_add(r0[k], z0[k]);
            z1[k] = wi.mul_add(r1[k], z1[k]);
            z2[k] = wi.mul_add(r2[k], z2[k]);
            z3[k] = wi.mul_add(r3[k], z3[k]);
        }
    }
    let mut z = [0.0; BLOCK];
    z[..16].copy_from_slice(&z0);
    z[16..32].copy_from_slice(&z1);
    z[32..48].copy_from_slice(&z2);
    z[48..].copy_from_slice(&z3);
    z
}

/// Two rows of [`weighted_rows`] at once, `w(i)` giving both weights of row i: each input
/// row is loaded once for both (each output's sums as in [`weighted_rows`]).
#[inline(always)]
fn weighted_row_pair(start: [f32; 2], rows: &[Row], w: impl Fn(usize) -> [f32; 2]) -> [Row; 2] {
    // Eight separate 16-wide values, as in `weighted_rows`: as arrays of arrays the compiler
    // kept them on the stack (2.3 times slower).
    let (mut a0, mut a1, mut a2, mut a3) = ([start[0]; 16], [start[0]; 16], [start[0]; 16], [start[0]; 16]);
    let (mut b0, mut b1, mut b2, mut b3) = ([start[1]; 16], [start[1]; 16], [start[1]; 16], [start[1]; 16]);
    for (i, r) in rows.iter().enumerate() {
        let [u, v] = w(i);
        let (r0, rest) = r.split_at(16);
        let (r1, rest) = rest.split_at(16);
        let (r2, r3) = rest.split_at(16);
        for k in 0..16 {
            a0[k] = u.mul_add(r0[k], a0[k]);
            a1[k] = u.mul_add(r1[k], a1[k]);
            a2[k] = u.mul_add(r2[k], a2[k]);
            a3[k] = u.mul_add(r3[k], a3[k]);
            b0[k] = v.mul_add(r0[k], b0[k]);
            b1[k] = v.mul_add(r1[k], b1[k]);
            b2[k] = v.mul_add(r2[k], b2[k]);
            b3[k] = v.mul_add(r3[k], b3[k]);
        }
    }
    let join = |p0: [f32; 16], p1: [f32; 16], p2: [f32; 16], p3: [f32; 16]| {
        let mut z = [0.0; BLOCK];
        z[..16].copy_from_slice(&p0);
        z[16..32].copy_from_slice(&p1);
        z[32..48].copy_from_slice(&p2);
        z[48..].copy_from_slice(&p3);
        z
    };
    [join(a0, a1, a2, a3), join(b0, b1, b2, b3)]
}

/// `acc += r`, slot by slot.
#[inline(always)]
fn add_row(acc: &mut Lanes, r: &Row) {
    for k in 0..32 {
        acc[k] += r[k] + r[k + 32];
    }
}

/// `acc += a ⊙ b`, slot by slot.
#[inline(always)]
fn add_products(acc: &mut Lanes, a: &Row, b: &Row) {
    for k in 0..32 {
        acc[k] = a[k + 32].mul_add(b[k + 32], a[k].mul_add(b[k], acc[k]));
    }
}

/// The sum of the slots as a tree of halves: a fixed order. Each level in an array of its
/// own, so each is one vector add (as one array halved in place, the compiler added pairs
/// of slots, and the totals of 354 values were a fifth of a 64-row epoch).
#[inline(always)]
fn lane_total(lanes: &Lanes) -> f32 {
    let mut h = [0.0f32; 16];
    for k in 0..16 {
        h[k] = lanes[k] + lanes[k + 16];
    }
    let mut q = [0.0f32; 8];
    for k in 0..8 {
        q[k] = h[k] + h[k + 8];
    }
    let mut e = [0.0f32; 4];
    for k in 0..4 {
        e[k] = q[k] + q[k + 4];
    }
    (e[0] + e[2]) + (e[1] + e[3])
}

/// The `P + 1` sums of samples `range` into `out` (gradient in packed order, then the loss
/// sum), block by block.
#[inline(always)]
fn chunk_sums(mlp: &Mlp, data: &Dataset, range: std::ops::Range<usize>, inv_n: f32, work: &mut Work, out: &mut [f32]) {
    let net = &mlp.net;
    let (n, layers) = (data.len(), net.layers());
    let p = net.param_count();
    for start in range.clone().step_by(BLOCK) {
        let count = BLOCK.min(range.end - start);
        for (k, row) in work.x.iter_mut().enumerate() {
            row.fill(0.0);
            row[..count].copy_from_slice(&data.xt[k * n + start..k * n + start + count]);
        }
        work.t.fill(0.0);
        work.t[..count].copy_from_slice(&data.t[start..start + count]);
        work.mask.fill(0.0);
        work.mask[..count].fill(1.0);

        // Forward: Z_l = W_l·A_{l−1} + B_l, A_l = f(Z_l), one row at a time in registers.
        for l in 1..=layers {
            let s = net.layer(l);
            let (below, rest) = work.a.split_at_mut(l - 1);
            let input: &[Row] = if l == 1 { &work.x } else { &below[l - 2] };
            let w = &mlp.params[s.w..s.b];
            let b = &mlp.params[s.b..s.b + s.rows];
            let f = if l == layers { Activation::Sigmoid } else { net.activation };
            let activate = |z: &mut Row| match f {
                Activation::Sigmoid => z.iter_mut().for_each(|v| *v = sigmoid(*v)),
                Activation::Tanh => z.iter_mut().for_each(|v| *v = tanh(*v)),
                // Not `max`, which turns a NaN into 0: divergence must show.
                Activation::Relu => z.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v }),
            };
            // Units two at a time, each input row loaded once for both.
            let out = &mut rest[0];
            let mut j = 0;
            while j + 1 < s.rows {
                let (w0, w1) = (&w[j * s.cols..(j + 1) * s.cols], &w[(j + 1) * s.cols..(j + 2) * s.cols]);
                let [mut z0, mut z1] = weighted_row_pair([b[j], b[j + 1]], input, |i| [w0[i], w1[i]]);
                activate(&mut z0);
                activate(&mut z1);
                out[j] = z0;
                out[j + 1] = z1;
                j += 2;
            }
            if j < s.rows {
                let w_j = &w[j * s.cols..(j + 1) * s.cols];
                let mut z = weighted_rows(b[j], input, |i| w_j[i]);
                activate(&mut z);
                out[j] = z;
            }
        }

        // The loss, and dZ_L as the reference computes it (padding samples masked out).
        let prediction = &work.a[layers - 1][0];
        let mut log = [0.0f32; BLOCK];
        let mut d_z = [0.0f32; BLOCK];
        for k in 0..BLOCK {
            let q = prediction[k];
            // Labels are exactly 0 or 1, so t·log p + (1 − t)·log(1 − p) is one log.
            log[k] = work.mask[k] * clamped_log(if work.t[k] > 0.5 { q } else { 1.0 - q });
            // PyTorch's guarded ∂loss/∂A_L, then back through the output sigmoid.
            let slope = q * (1.0 - q);
            d_z[k] = work.mask[k] * ((q - work.t[k]) / slope.max(GRAD_EPS) * inv_n) * slope;
        }
        add_row(&mut work.acc[p], &log);
        work.d_z[0] = d_z;

        // Backward, layer L down to 1.
        for l in (1..=layers).rev() {
            let s = net.layer(l);
            let input: &[Row] = if l == 1 { &work.x } else { &work.a[l - 2] };
            // dW_l = dZ_l·A_{l−1}ᵀ, dB_l = Σₛ dZ_l.
            // Two rows of dW at a time: each input row is loaded once for both (2-16-16-1,
            // 256 rows: 16.6 µs an epoch, 15.5 so; four at a time gained nothing more).
            let weights = &mut work.acc[s.w..s.b];
            let mut j = 0;
            while j + 1 < s.rows {
                let (dz0, dz1) = (&work.d_z[j], &work.d_z[j + 1]);
                let (row0, row1) = weights[j * s.cols..(j + 2) * s.cols].split_at_mut(s.cols);
                for ((acc0, acc1), in_row) in row0.iter_mut().zip(row1.iter_mut()).zip(input) {
                    add_products(acc0, dz0, in_row);
                    add_products(acc1, dz1, in_row);
                }
                j += 2;
            }
            if j < s.rows {
                let dz = &work.d_z[j];
                for (acc, in_row) in weights[j * s.cols..(j + 1) * s.cols].iter_mut().zip(input) {
                    add_products(acc, dz, in_row);
                }
            }
            for j in 0..s.rows {
                add_row(&mut work.acc[s.b + j], &work.d_z[j]);
            }
            if l == 1 {
                break;
            }
            // dA_{l−1} = W_lᵀ·dZ_l, then dZ_{l−1} = dA_{l−1} ⊙ f′ from the stored A_{l−1}.
            let w = &mlp.params[s.w..s.b];
            let d_z = &work.d_z[..s.rows];
            let mut i = 0;
            while i + 1 < s.cols {
                let pair = weighted_row_pair([0.0; 2], d_z, |j| [w[j * s.cols + i], w[j * s.cols + i + 1]]);
                work.d_a[i..i + 2].copy_from_slice(&pair);
                i += 2;
            }
            if i < s.cols {
                work.d_a[i] = weighted_rows(0.0, d_z, |j| w[j * s.cols + i]);
            }
            let below = &work.a[l - 2];
            for ((d_a, y), d_z) in work.d_a.iter().zip(below).zip(work.d_z.iter_mut()) {
                let mut d = [0.0f32; BLOCK];
                match net.activation {
                    Activation::Sigmoid => (0..BLOCK).for_each(|k| d[k] = d_a[k] * y[k] * (1.0 - y[k])),
                    Activation::Tanh => (0..BLOCK).for_each(|k| d[k] = d_a[k] * (1.0 - y[k] * y[k])),
                    Activation::Relu => (0..BLOCK).for_each(|k| d[k] = if y[k] > 0.0 { d_a[k] } else { 0.0 }),
                }
                *d_z = d;
            }
        }
    }
    // Read and cleared in one pass, so the sums start at zero for the next chunk: a separate
    // fill of the (P + 1)·32 lanes (45 KB at 2-16-16-1) cost an epoch of 64 rows 1.3 µs of
    // 7.0 (256 rows: 18.2 µs, now 16.9).
    for (o, lanes) in out.iter_mut().zip(work.acc.iter_mut()) {
        *o = lane_total(lanes);
        *lanes = [0.0; 32];
    }
}

/// [`chunk_sums`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F, VL, DQ and BW (checked by the caller at run time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
unsafe fn chunk_sums_avx512(
    mlp: &Mlp,
    data: &Dataset,
    range: std::ops::Range<usize>,
    inv_n: f32,
    work: &mut Work,
    out: &mut [f32],
) {
    chunk_sums(mlp, data, range, inv_n, work, out)
}

/// The fast CPU trainer for any net.
pub struct FastMlpTrainer {
    mlp: Mlp,
    /// Shared, so the caller can score the trained model on the same samples without a copy.
    data: Arc<Dataset>,
    opt: Optimizer,
    state: OptState,
    /// `(P + 1) × chunks` sums, reused every epoch.
    sums: Vec<f32>,
    /// The `P + 1` totals over the chunks.
    totals: Vec<f64>,
    /// Samples per chunk ([`CHUNK`]).
    chunk: usize,
    /// One working space per worker thread (and one for the caller's), reused every epoch.
    works: Vec<Mutex<Work>>,
    wide: bool,
    /// See [`FastMlpTrainer::helper_epochs`].
    helper_epochs: u64,
}

impl FastMlpTrainer {
    /// `state`: where a saved run left its optimizer (`None`: a fresh start).
    pub fn new(mlp: Mlp, data: impl Into<Arc<Dataset>>, opt: Optimizer, state: Option<OptState>) -> Self {
        let data = data.into();
        assert_eq!(data.inputs(), mlp.net.inputs(), "the data's width is the net's input width");
        let p = mlp.net.param_count();
        let chunk = chunk_for(data.len(), &mlp.net);
        let chunks = data.len().div_ceil(chunk).max(1);
        let state = state.unwrap_or_else(|| OptState::new(opt.kind, p));
        let works = (0..=rayon::current_num_threads()).map(|_| Mutex::new(Work::new(&mlp.net))).collect();
        FastMlpTrainer {
            mlp,
            data,
            opt,
            state,
            sums: vec![0.0; (p + 1) * chunks],
            totals: vec![0.0; p + 1],
            chunk,
            works,
            wide: super::fast::wide_lanes(),
            helper_epochs: 0,
        }
    }

    /// Gradient and loss sums of the current weights into `self.totals`, the chunks spread
    /// over rayon's threads.
    fn compute_totals(&mut self) {
        let n = self.data.len();
        let width = self.mlp.net.param_count() + 1;
        let (mlp, data, wide, chunk, works) = (&self.mlp, &*self.data, self.wide, self.chunk, &self.works);
        let run = |(c, out): (usize, &mut [f32])| {
            // This thread's own space (the caller's, last, outside the pool): never contended.
            let slot = rayon::current_thread_index().unwrap_or(works.len() - 1).min(works.len() - 1);
            let mut work = works[slot].lock().expect("a working space");
            sums_of(mlp, data, c * chunk..((c + 1) * chunk).min(n), wide, &mut work, out)
        };
        if n <= chunk {
            run((0, &mut self.sums[..]));
        } else {
            self.sums.par_chunks_mut(width).enumerate().for_each(run);
        }
        add_totals(&mut self.totals, &self.sums);
    }

    /// [`Trainer::run_epochs`] for a batch of two chunks, on the caller's thread and a helper
    /// (see [`Pair`]). The chunks, their sums and the order those are added in are the
    /// one-thread path's, whichever thread does the second chunk: the same bits.
    fn run_epochs_paired(&mut self, losses: &mut [f32]) {
        let n = self.data.len();
        let width = self.mlp.net.param_count() + 1;
        let (data, wide, chunk, works) = (&*self.data, self.wide, self.chunk, &self.works);
        let pair = Pair::new(&self.mlp);
        let helper_sums = Mutex::new(vec![0.0f32; width]);
        let (mlp, sums, totals, opt, state) =
            (&mut self.mlp, &mut self.sums, &mut self.totals, &self.opt, &mut self.state);
        let helper_epochs = &mut self.helper_epochs;
        std::thread::scope(|scope| {
            // No thread to be had (a process or container limit): this thread goes alone.
            let helper = std::thread::Builder::new()
                .name("fast-mlp-pair".into())
                .spawn_scoped(scope, || {
                    let _gone = StopOnDrop(&pair.helper_gone, None);
                    let mut work = works[1].lock().expect("a working space");
                    pair.started.store(true, Ordering::Release);
                    while let Some(epoch) = pair.next_epoch() {
                        if pair.claim(epoch) {
                            // Posted after its weights were stored. (Where the caller has
                            // given up waiting and gone on, they may be a later epoch's; it
                            // then never reads this result.)
                            let weights = pair.weights();
                            sums_of(&weights, data, chunk..n, wide, &mut work, &mut helper_sums.lock().expect("sums"));
                            pair.done.store(epoch, Ordering::Release);
                        }
                    }
                })
                .ok();
            // The helper stops, woken, however this thread leaves the scope (a panic too), or
            // the scope would wait for it forever.
            let _stop = StopOnDrop(&pair.stop, helper.as_ref().map(|h| h.thread().clone()));
            let mut work = works[0].lock().expect("a working space");
            let mut grads = vec![0.0f32; width - 1];
            // Epochs in a row whose second chunk this thread did, the helper running: past
            // SOLO_AFTER the helper is not getting a core in time (a busy machine, or its
            // virtual CPU paused), and waking it costs more than it gives, so this thread
            // goes alone for a while, twice as long each time in a row, up to MAX_SOLO.
            let (mut alone, mut solo_left, mut solo) = (0usize, 0usize, SOLO_AFTER);
            for (e, loss) in (1..).zip(losses.iter_mut()) {
                let paired = helper.is_some() && solo_left == 0;
                if let Some(h) = helper.as_ref().filter(|_| paired) {
                    *pair.weights.lock().expect("the weights") = Arc::new(mlp.clone());
                    pair.post(e, h.thread());
                } else {
                    solo_left = solo_left.saturating_sub(1);
                }
                let (first, second) = sums.split_at_mut(width);
                let started = Instant::now();
                sums_of(mlp, data, 0..chunk, wide, &mut work, first);
                // The second chunk: the helper's, or this thread's where the helper has not
                // begun it or has stalled in it (a busy machine has not run it in time). The
                // helper's takes about as long as the first did here.
                if !paired || pair.claim(e) || !pair.wait_done(e, 2 * started.elapsed() + SPIN_TIME) {
                    sums_of(mlp, data, chunk..n, wide, &mut work, second);
                    // Counted once the helper runs: starting it takes some epochs.
                    if paired && pair.started.load(Ordering::Acquire) {
                        alone += 1;
                    }
                    if alone == SOLO_AFTER {
                        (alone, solo_left, solo) = (0, solo, (2 * solo).min(MAX_SOLO));
                    }
                } else {
                    second.copy_from_slice(&helper_sums.lock().expect("sums"));
                    (alone, solo) = (0, SOLO_AFTER);
                    *helper_epochs += 1;
                }
                add_totals(totals, sums);
                *loss = step(mlp, totals, n, &mut grads, opt, state);
            }
        });
    }

    /// Epochs whose second chunk the helper thread of the paired path did, since the trainer
    /// was made: how often two cores shared an epoch.
    pub fn helper_epochs(&self) -> u64 {
        self.helper_epochs
    }

    fn checked_loss(&self) -> f32 {
        checked_loss(&self.totals, self.data.len())
    }
}

/// The sums of samples `range` into `out`, compiled for AVX-512 where `wide`.
fn sums_of(mlp: &Mlp, data: &Dataset, range: std::ops::Range<usize>, wide: bool, work: &mut Work, out: &mut [f32]) {
    let inv_n = 1.0 / data.len() as f32;
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is true only where the CPU reported AVX-512.
        return unsafe { chunk_sums_avx512(mlp, data, range, inv_n, work, out) };
    }
    let _ = wide;
    chunk_sums(mlp, data, range, inv_n, work, out)
}

/// `totals` = the chunks' sums added in chunk order, in f64: the order fixes the result.
fn add_totals(totals: &mut [f64], sums: &[f32]) {
    totals.fill(0.0);
    for chunk in sums.chunks(totals.len()) {
        for (t, &s) in totals.iter_mut().zip(chunk) {
            *t += s as f64;
        }
    }
}

/// The end of an epoch from its totals over `n` samples: the update (the reference's), and
/// the loss the epoch started from. `grads` is room for the gradient in f32.
fn step(mlp: &mut Mlp, totals: &[f64], n: usize, grads: &mut [f32], opt: &Optimizer, state: &mut OptState) -> f32 {
    for (g, &t) in grads.iter_mut().zip(totals) {
        *g = t as f32;
    }
    mlp::update(mlp, grads, opt, state);
    checked_loss(totals, n)
}

/// The mean loss of `n` samples from the totals, NaN if any total is not finite (the
/// polynomial log does not carry a NaN, so a diverging run is caught by its sums).
fn checked_loss(totals: &[f64], n: usize) -> f32 {
    if totals.iter().all(|t| t.is_finite()) {
        (-totals[totals.len() - 1] / n as f64) as f32
    } else {
        f32::NAN
    }
}

/// The hand-off between the caller's thread and its helper in
/// `FastMlpTrainer::run_epochs_paired`. The caller posts each epoch; whichever thread claims
/// the epoch's second chunk first computes it, so a helper the machine has not run in time
/// costs the epoch nothing but the claim (on a loaded machine the caller would otherwise
/// wait for it: 2-16-16-1 at 256 rows took 550 µs an epoch instead of 16 while a build
/// ran). Between epochs the helper spins, then sleeps until the next is posted.
struct Pair {
    /// The weights of the epoch posted last, stored before it is posted.
    weights: Mutex<Arc<Mlp>>,
    /// The last epoch posted (epochs count from 1).
    posted: AtomicUsize,
    /// The last epoch whose second chunk a thread has claimed.
    claimed: AtomicUsize,
    /// The last epoch whose second chunk the helper has finished.
    done: AtomicUsize,
    /// The helper is asleep (or about to be), to be woken by the next post.
    sleeping: AtomicBool,
    /// The helper has started.
    started: AtomicBool,
    stop: AtomicBool,
    helper_gone: AtomicBool,
}

impl Pair {
    fn new(mlp: &Mlp) -> Self {
        Pair {
            weights: Mutex::new(Arc::new(mlp.clone())),
            posted: AtomicUsize::new(0),
            claimed: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            started: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            helper_gone: AtomicBool::new(false),
        }
    }

    /// Posts `epoch`, waking the helper if it sleeps. (SeqCst with `next_epoch`'s: either the
    /// helper sees the epoch before it sleeps, or this sees it asleep.)
    fn post(&self, epoch: usize, helper: &std::thread::Thread) {
        self.posted.store(epoch, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            helper.unpark();
        }
    }

    /// The weights of the epoch posted last.
    fn weights(&self) -> Arc<Mlp> {
        self.weights.lock().expect("the weights").clone()
    }

    /// Whether this thread takes `epoch`'s second chunk: the first to ask does. (Epochs the
    /// caller went alone were never posted, so the last claimed may be further back.)
    fn claim(&self, epoch: usize) -> bool {
        let last = self.claimed.load(Ordering::Acquire);
        last < epoch && self.claimed.compare_exchange(last, epoch, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The helper's wait for the next epoch: spinning for a while, since the next is usually
    /// microseconds away, then asleep. None once stopped.
    fn next_epoch(&self) -> Option<usize> {
        let seen = self.claimed.load(Ordering::Acquire);
        loop {
            let ready = || self.stop.load(Ordering::SeqCst) || self.posted.load(Ordering::SeqCst) > seen;
            if !spin(SPIN_TIME, ready) {
                self.sleeping.store(true, Ordering::SeqCst);
                if !ready() {
                    std::thread::park();
                }
                self.sleeping.store(false, Ordering::SeqCst);
            }
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            let posted = self.posted.load(Ordering::SeqCst);
            if posted > seen {
                return Some(posted);
            }
        }
    }

    /// The caller's wait, up to `limit`, for the helper's second chunk of `epoch`, which it
    /// has begun: whether it came (else the helper has stalled, or is gone).
    fn wait_done(&self, epoch: usize, limit: Duration) -> bool {
        spin(limit, || self.done.load(Ordering::Acquire) >= epoch || self.helper_gone.load(Ordering::Acquire))
            && self.done.load(Ordering::Acquire) >= epoch
    }
}

/// Spins until `ready` or `limit` has passed: whether it is ready.
fn spin(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > limit {
            return ready();
        }
    }
}

/// Epochs in a row whose second chunk the caller's thread did itself, the helper running,
/// after which it goes alone for as many epochs (doubling each time in a row, up to
/// [`MAX_SOLO`]) before it wakes the helper again.
const SOLO_AFTER: usize = 8;
/// The longest the caller's thread goes alone.
const MAX_SOLO: usize = 1024;

/// How long the helper of a [`Pair`] spins for the next epoch before it sleeps: more than
/// the gap between two epochs' posts at the batches pairing is for (a few µs); and what the
/// caller waits for the helper's chunk beyond twice its own.
const SPIN_TIME: Duration = Duration::from_micros(30);

/// Sets its flag when dropped (and wakes the thread that may be parked waiting for it).
struct StopOnDrop<'a>(&'a AtomicBool, Option<std::thread::Thread>);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        if let Some(t) = &self.1 {
            t.unpark();
        }
    }
}

/// Epochs a call must run for the two-thread path: starting its helper costs some tens of
/// µs, a few epochs' worth at the batches it is for.
pub const PAIR_MIN_EPOCHS: usize = 16;

impl Trainer for FastMlpTrainer {
    /// The data, the weights, the optimizer's state, the per-chunk sums and each thread's
    /// working space (its rows and its lane sums, (P + 1)·32 floats).
    fn memory_bytes(&self) -> u64 {
        let floats = self.data.xt.len() + self.data.t.len() + self.mlp.params.len() + self.sums.len();
        let state = self.state.m.len() + self.state.v.len();
        let net = &self.mlp.net;
        let rows = (net.inputs() + net.widths[1..].iter().sum::<usize>() + 2 * net.widest() + 2) * BLOCK;
        let work = self.works.len() * (rows + (net.param_count() + 1) * 32);
        ((floats + state + work) * 4 + self.totals.len() * 8) as u64
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        let chunks = self.data.len().div_ceil(self.chunk);
        let two_cores = rayon::current_num_threads() >= 2 && self.works.len() >= 2;
        if chunks == 2 && losses.len() >= PAIR_MIN_EPOCHS && two_cores {
            self.run_epochs_paired(losses);
            return Ok(());
        }
        // More chunks: the epochs run on a pool thread, whose join hands the chunks out from
        // its queue, not on the caller's, which waits on a condition variable every epoch.
        if chunks > 1 && rayon::current_thread_index().is_none() {
            return rayon::scope(|_| self.run_epochs(losses));
        }
        let p = self.mlp.net.param_count();
        let mut grads = vec![0.0f32; p];
        for loss in losses {
            self.compute_totals();
            *loss = step(&mut self.mlp, &self.totals, self.data.len(), &mut grads, &self.opt, &mut self.state);
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
        self.compute_totals();
        Ok(self.checked_loss())
    }

    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        self.compute_totals();
        let p = self.mlp.net.param_count();
        Ok(self.totals[..p].iter().map(|&g| g as f32).collect())
    }
}
