//! Every WGSL kernel against its CPU twin of the same name, on fresh random inputs, with
//! every output poisoned with NaN first so an unwritten element fails. The `check` command
//! runs it on a user's own GPU; `tests/kernels.rs` runs it at awkward sizes.
//!
//! Inputs that feed a sum over the batch are drawn from [−0.5, 1): with a positive mean the
//! sum cannot cancel to nearly zero, which would make the relative error meaningless.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cpu;
use crate::data::Dataset;
use crate::gpu::kernels::{self, adam_table, adam_table_len, Dispatch, Kernels, Operand, OptimBuffers, Scratch};
use crate::gpu::tiled::TiledKernels;
use crate::gpu::trainer::Path;
use crate::gpu::{Gpu, GpuTrainer};
use crate::model::Params;
use crate::net::optim::{Optimizer, OptimizerKind};
use crate::train::Trainer;
use crate::Error;

/// ‖gpu − cpu‖ / ‖cpu‖ allowed: f32 rounding over at most a few hundred sequential terms
/// then a tree, against an f64-accumulated reference, stays near 1e-6 at these sizes.
pub const TOL: f64 = 1e-5;

/// One comparison of a kernel with its twin.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub kernel: &'static str,
    pub case: String,
    /// ‖gpu − cpu‖ / ‖cpu‖; NaN when the GPU left a NaN (an unwritten element).
    pub rel_error: f64,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.rel_error <= TOL
    }
}

/// ‖a − b‖ / ‖b‖ in f64, with `b` the reference; 0 when both are zero, NaN if `a` has one.
pub fn rel_error(a: &[f32], b: &[f32]) -> f64 {
    scaled_error(a, b, b)
}

/// ‖a − b‖ / ‖scale‖: 0 when equal, NaN where `a` has a NaN (an unwritten element).
fn scaled_error(a: &[f32], b: &[f32], scale: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    assert_eq!(scale.len(), b.len(), "the scale's length differs");
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let diff = norm(&mut a.iter().zip(b).map(|(&x, &y)| x as f64 - y as f64));
    if diff == 0.0 {
        0.0
    } else {
        diff / norm(&mut scale.iter().map(|&x| x as f64))
    }
}

/// The kernels the checks cover, by name.
pub fn kernel_names() -> Vec<&'static str> {
    CHECKS.iter().map(|(name, _)| *name).collect()
}

/// Runs every check at every (H, N) pair with inputs drawn from `seed`, in table order.
pub fn check_kernels(gpu: &Gpu, hidden: &[usize], batches: &[usize], seed: u64) -> Result<Vec<CheckResult>, Error> {
    let (kernels, tiled) = (Kernels::new(gpu)?, TiledKernels::new(gpu)?);
    let mut cx = Ctx { gpu, kernels, tiled, rng: ChaCha8Rng::seed_from_u64(seed), results: Vec::new(), current: "" };
    for (name, check) in CHECKS {
        cx.current = name;
        for &n in batches {
            for &h in hidden {
                check(&mut cx, h, n)?;
            }
        }
    }
    Ok(cx.results)
}

struct Ctx<'a> {
    gpu: &'a Gpu,
    kernels: Kernels,
    tiled: TiledKernels,
    rng: ChaCha8Rng,
    results: Vec<CheckResult>,
    /// The kernel whose check is running.
    current: &'static str,
}

impl Ctx<'_> {
    fn poisoned(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.gpu.storage_from(label, &vec![f32::NAN; len])
    }

    fn read(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<f32>, Error> {
        let staging = self.gpu.staging(len);
        let mut out = vec![0.0; len];
        self.gpu.read(buffer, offset, &staging, &mut out)?;
        Ok(out)
    }

    fn run(&self, dispatches: &[Dispatch]) -> Result<(), Error> {
        kernels::submit(self.gpu, dispatches)
    }

    fn uniform(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.rng.random_range(lo..hi)).collect()
    }

    fn record(&mut self, case: String, gpu: &[f32], cpu: &[f32]) {
        self.results.push(CheckResult { kernel: self.current, case, rel_error: rel_error(gpu, cpu) });
    }

    /// [`Ctx::record`] for a product whose terms may cancel: ‖gpu − cpu‖ against ‖scale‖,
    /// the sum of the terms' magnitudes, which is what f32 knows a sum to (a few outputs
    /// that cancel to near 0 made the norm-wise error 5e-5 in one draw of a thousand).
    fn record_scaled(&mut self, case: String, gpu: &[f32], cpu: &[f32], scale: &[f32]) {
        self.results.push(CheckResult { kernel: self.current, case, rel_error: scaled_error(gpu, cpu, scale) });
    }

    /// [`Ctx::record`] for losses of trained nets: a loss is a mean of −ln q, and ln q moves by
    /// q's own relative error wherever q is, so f32 knows a loss near 0 only to ε·(1 + loss),
    /// not ε·loss (`check --seed 3`: one net on one sample at loss 2.4e-3 read 2.5e-5 apart,
    /// 6e-8 in absolute terms). A wrong term or a wrong mean still moves it by far more.
    fn record_losses(&mut self, case: String, gpu: &[f32], cpu: &[f32]) {
        let scale: Vec<f32> = cpu.iter().map(|&l| 1.0 + l.abs()).collect();
        self.record_scaled(case, gpu, cpu, &scale);
    }
}

/// The five products of the forward and backward passes, each with its operands at an
/// offset inside a larger buffer, as the packed parameters are.
fn check_matmul(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    // (label, m, k, p, a_t, b_t)
    let cases = [
        ("G1 = W1·Xᵀ", h, 2, n, false, false),
        ("G2 = W2·S1", 1, h, n, false, false),
        ("dW2 = dG2·S1ᵀ", 1, n, h, false, true),
        ("dS1 = W2ᵀ·dG2", h, 1, n, true, false),
        ("dW1 = dG1·X", h, n, 2, false, true),
    ];
    for (label, m, k, p, a_t, b_t) in cases {
        let (a_off, b_off, c_off) = (3, 5, 7);
        // Every product negative: a sum whose terms cancel is known in f32 only to ε·Σ|terms|,
        // and with one output (H = 1) a norm-wise 1e-5 failed about one run in a hundred
        // (dW2 at N = 64 summing to near 0: 5.2e-5). Signs are still exercised.
        let a = cx.uniform(a_off + m * k, 0.1, 1.0);
        let b = cx.uniform(b_off + k * p, -1.0, -0.1);
        let a_buf = cx.gpu.storage_from("a", &a);
        let b_buf = cx.gpu.storage_from("b", &b);
        let c_buf = cx.poisoned("c", c_off + m * p);
        let scratch = Scratch::new(cx.gpu, m * p, k);
        let d = cx.kernels.matmul(
            cx.gpu,
            Operand::new(&a_buf, a_off, a_t),
            Operand::new(&b_buf, b_off, b_t),
            &c_buf,
            c_off,
            (m, k, p),
            &scratch,
        );
        cx.run(&d)?;
        let want = cpu::matmul(&a[a_off..], a_t, &b[b_off..], b_t, m, k, p);
        cx.record(format!("matmul {label}, H={h} N={n}"), &cx.read(&c_buf, c_off, m * p)?, &want);
    }
    Ok(())
}

fn check_add_bias(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    let z = cx.uniform(h * n, -4.0, 4.0);
    let bias = cx.uniform(2 + h, -1.0, 1.0);
    let z_buf = cx.gpu.storage_from("z", &z);
    let bias_buf = cx.gpu.storage_from("bias", &bias);
    cx.run(&[cx.kernels.add_bias(cx.gpu, &z_buf, &bias_buf, 2, (h, n))])?;
    let mut want = z.clone();
    cpu::add_bias(&mut want, &bias[2..], n);
    cx.record(format!("add_bias H={h} N={n}"), &cx.read(&z_buf, 0, h * n)?, &want);
    Ok(())
}

fn check_sigmoid(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    let g = cx.uniform(h * n, -30.0, 30.0);
    let g_buf = cx.gpu.storage_from("g", &g);
    let s_buf = cx.poisoned("s", h * n);
    cx.run(&[cx.kernels.sigmoid(cx.gpu, &g_buf, &s_buf, (h, n))])?;
    cx.record(format!("sigmoid H={h} N={n}"), &cx.read(&s_buf, 0, h * n)?, &cpu::sigmoid(&g));
    Ok(())
}

fn check_sigmoid_backward(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    let ds = cx.uniform(h * n, -1.0, 1.0);
    let s = cx.uniform(h * n, 0.0, 1.0);
    let ds_buf = cx.gpu.storage_from("ds", &ds);
    let s_buf = cx.gpu.storage_from("s", &s);
    let dg_buf = cx.poisoned("dg", h * n);
    cx.run(&[cx.kernels.sigmoid_backward(cx.gpu, &ds_buf, &s_buf, &dg_buf, (h, n))])?;
    cx.record(format!("sigmoid_backward H={h} N={n}"), &cx.read(&dg_buf, 0, h * n)?, &cpu::sigmoid_backward(&ds, &s));
    Ok(())
}

fn check_tanh(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    // Wide, and a third within ±0.75, on both sides of where the kernel's polynomial ends (0.55).
    let g: Vec<f32> = cx
        .uniform(h * n, -12.0, 12.0)
        .into_iter()
        .enumerate()
        .map(|(i, z)| if i % 3 == 0 { z / 16.0 } else { z })
        .collect();
    let g_buf = cx.gpu.storage_from("g", &g);
    let s_buf = cx.poisoned("s", h * n);
    cx.run(&[cx.kernels.tanh(cx.gpu, &g_buf, &s_buf, (h, n))])?;
    let got = cx.read(&s_buf, 0, h * n)?;
    let want = cpu::tanh(&g);
    cx.record(format!("tanh H={h} N={n}"), &got, &want);
    // Element by element too: a norm over many values near ±1 would hide an error near 0.
    let worst = got
        .iter()
        .zip(&want)
        .map(|(&a, &b)| match (a.is_nan(), a == b) {
            (true, _) => f64::NAN,
            (false, true) => 0.0,
            (false, false) => ((a - b) as f64 / b as f64).abs(),
        })
        .fold(0.0, |w: f64, e| if e.is_nan() || w.is_nan() { f64::NAN } else { w.max(e) });
    cx.results.push(CheckResult {
        kernel: cx.current,
        case: format!("tanh H={h} N={n}, worst element"),
        rel_error: worst,
    });
    Ok(())
}

fn check_relu(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    let g = cx.uniform(h * n, -3.0, 3.0);
    let g_buf = cx.gpu.storage_from("g", &g);
    let s_buf = cx.poisoned("s", h * n);
    cx.run(&[cx.kernels.relu(cx.gpu, &g_buf, &s_buf, (h, n))])?;
    cx.record(format!("relu H={h} N={n}"), &cx.read(&s_buf, 0, h * n)?, &cpu::relu(&g));
    Ok(())
}

/// `tanh_backward` or `relu_backward` against its twin, on outputs a forward pass could give.
fn check_backward(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    let ds = cx.uniform(h * n, -1.0, 1.0);
    let relu = cx.current == "relu_backward";
    let s = if relu { cpu::relu(&cx.uniform(h * n, -1.0, 1.0)) } else { cx.uniform(h * n, -1.0, 1.0) };
    let ds_buf = cx.gpu.storage_from("ds", &ds);
    let s_buf = cx.gpu.storage_from("s", &s);
    let dg_buf = cx.poisoned("dg", h * n);
    let (d, want) = if relu {
        (cx.kernels.relu_backward(cx.gpu, &ds_buf, &s_buf, &dg_buf, (h, n)), cpu::relu_backward(&ds, &s))
    } else {
        (cx.kernels.tanh_backward(cx.gpu, &ds_buf, &s_buf, &dg_buf, (h, n)), cpu::tanh_backward(&ds, &s))
    };
    cx.run(&[d])?;
    cx.record(format!("{} H={h} N={n}", cx.current), &cx.read(&dg_buf, 0, h * n)?, &want);
    Ok(())
}

fn targets(cx: &mut Ctx, n: usize) -> Vec<f32> {
    cx.uniform(n, 0.0, 1.0).into_iter().map(|u| if u < 0.5 { 0.0 } else { 1.0 }).collect()
}

fn check_bce_loss(cx: &mut Ctx, _h: usize, n: usize) -> Result<(), Error> {
    let s2 = cx.uniform(n, 0.001, 0.999);
    let t = targets(cx, n);
    let s2_buf = cx.gpu.storage_from("s2", &s2);
    let t_buf = cx.gpu.storage_from("t", &t);
    let out = cx.poisoned("loss", 4);
    let scratch = Scratch::new(cx.gpu, 1, n);
    cx.run(&cx.kernels.bce_loss(cx.gpu, &s2_buf, &t_buf, n, &out, 2, &scratch))?;
    cx.record(format!("bce_loss N={n}"), &cx.read(&out, 2, 1)?, &[cpu::bce_loss(&s2, &t)]);
    Ok(())
}

fn check_bce_grad(cx: &mut Ctx, _h: usize, n: usize) -> Result<(), Error> {
    let s2 = cx.uniform(n, 0.001, 0.999);
    let t = targets(cx, n);
    let s2_buf = cx.gpu.storage_from("s2", &s2);
    let t_buf = cx.gpu.storage_from("t", &t);
    let d_buf = cx.poisoned("d_s2", n);
    cx.run(&[cx.kernels.bce_grad(cx.gpu, &s2_buf, &t_buf, &d_buf, n)])?;
    cx.record(format!("bce_grad N={n}"), &cx.read(&d_buf, 0, n)?, &cpu::bce_grad(&s2, &t));
    Ok(())
}

fn check_sum_rows(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    // Positive, as in check_matmul: a sum that cancels is known only to ε·Σ|terms|.
    let a = cx.uniform(1 + h * n, 0.1, 1.0);
    let a_buf = cx.gpu.storage_from("a", &a);
    let out = cx.poisoned("out", 3 + h);
    let scratch = Scratch::new(cx.gpu, h, n);
    cx.run(&cx.kernels.sum_rows(cx.gpu, &a_buf, 1, h, n, &out, 3, 1.0, &scratch))?;
    cx.record(format!("sum_rows H={h} N={n}"), &cx.read(&out, 3, h)?, &cpu::sum_rows(&a[1..], n));
    Ok(())
}

fn check_sum_cols(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    // n rows of h columns: past 32 rows more than one pass (100,003 rows take four).
    let a = cx.uniform(1 + n * h, 0.1, 1.0);
    let a_buf = cx.gpu.storage_from("a", &a);
    let out = cx.poisoned("out", 3 + h);
    // A first pass leaves n / 32 rows of h.
    let scratch = Scratch::new(cx.gpu, h * kernels::COLS_GROUP as usize, n);
    cx.run(&cx.kernels.sum_cols(cx.gpu, &a_buf, 1, n, h, &out, 3, 1.0, &scratch))?;
    cx.record(format!("sum_cols {n} rows × {h}"), &cx.read(&out, 3, h)?, &cpu::sum_cols(&a[1..], h));
    Ok(())
}

fn magnitudes(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// The layer shapes (rows, cols) a tiled check takes at width `h`: a first layer of 2
/// inputs, a layer of `4h + 1` rows (65 at h = 16, a row of tiles past the square
/// tile's 64), and an output layer fed by it.
fn layer_shapes(h: usize) -> [(usize, usize); 3] {
    [(h, 2), (4 * h + 1, h), (1, 4 * h + 1)]
}

/// The packed parameters of one layer, `[W | B]` at an offset (as a layer past the first
/// sits in the packed vector), and where W and B start.
fn layer_params(cx: &mut Ctx, rows: usize, cols: usize) -> (Vec<f32>, usize, usize) {
    let w = 5;
    (cx.uniform(w + rows * cols + rows, -1.0, 1.0), w, w + rows * cols)
}

fn check_layer_forward(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::net::Activation;
    for (case, (rows, cols)) in layer_shapes(h).into_iter().enumerate() {
        let f = [Activation::Sigmoid, Activation::Tanh, Activation::Relu][(case + h + n) % 3];
        let (params, w, b) = layer_params(cx, rows, cols);
        let a_prev = cx.uniform(cols * n, -2.0, 2.0);
        let p_buf = cx.gpu.storage_from("params", &params);
        let a_buf = cx.gpu.storage_from("a_prev", &a_prev);
        let out = cx.poisoned("a", rows * n);
        cx.run(&[cx.tiled.layer_forward(cx.gpu, f, &p_buf, (w, b), &a_buf, &out, (rows, cols, n))])?;
        let want = cpu::layer_forward(f, &params[w..b], &params[b..], &a_prev, rows, cols);
        // |W|·|A| + |B|: every activation's slope is at most 1.
        let mut scale = cpu::matmul(&magnitudes(&params[w..b]), false, &magnitudes(&a_prev), false, rows, cols, n);
        cpu::add_bias(&mut scale, &magnitudes(&params[b..]), n);
        let case = format!("layer_forward {rows}×{cols} {} N={n}", f.name());
        cx.record_scaled(case, &cx.read(&out, 0, rows * n)?, &want, &scale);
    }
    Ok(())
}

fn check_layer_backward(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::net::Activation;
    // Back from an output layer (one row: k = 1), and through both wide shapes.
    for (case, (rows, cols)) in [(1, h), (h, 4 * h + 1), (4 * h + 1, h)].into_iter().enumerate() {
        let f = [Activation::Sigmoid, Activation::Tanh, Activation::Relu][(case + h + n) % 3];
        let (params, w, b) = layer_params(cx, rows, cols);
        let d_z = cx.uniform(rows * n, -1.0, 1.0);
        let a_prev = cpu::activate(f, &cx.uniform(cols * n, -2.0, 2.0));
        let p_buf = cx.gpu.storage_from("params", &params);
        let d_buf = cx.gpu.storage_from("d_z", &d_z);
        let a_buf = cx.gpu.storage_from("a_prev", &a_prev);
        let out = cx.poisoned("d_z_prev", cols * n);
        cx.run(&[cx.tiled.layer_backward(cx.gpu, f, &p_buf, w, &d_buf, &a_buf, &out, (rows, cols, n))])?;
        let want = cpu::layer_backward(f, &params[w..b], &d_z, &a_prev, rows, cols);
        // |W|ᵀ·|dZ|: every activation's slope is at most 1.
        let scale = cpu::matmul(&magnitudes(&params[w..b]), true, &magnitudes(&d_z), false, cols, rows, n);
        let case = format!("layer_backward {rows}×{cols} {} N={n}", f.name());
        cx.record_scaled(case, &cx.read(&out, 0, cols * n)?, &want, &scale);
    }
    Ok(())
}

fn check_layer_grad(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    for (rows, cols) in layer_shapes(h) {
        // Every product negative, as in check_matmul: a sum over the batch that cancels is
        // known only to ε·Σ|terms|.
        let d_z = cx.uniform(rows * n, 0.1, 1.0);
        let a_prev = cx.uniform(cols * n, -1.0, -0.1);
        let d_buf = cx.gpu.storage_from("d_z", &d_z);
        let a_buf = cx.gpu.storage_from("a_prev", &a_prev);
        let out = cx.poisoned("grads", 7 + rows * cols);
        let (partials, pass) = crate::gpu::tiled::scratch_lens(rows * cols, rows, n);
        let scratch = Scratch::with_lens(cx.gpu, partials, pass);
        let d = cx.tiled.layer_grad(cx.gpu, &cx.kernels, &d_buf, &a_buf, &out, 7, (rows, cols, n), &scratch);
        cx.run(&d)?;
        let want = cpu::layer_grad(&d_z, &a_prev, rows, cols);
        cx.record(format!("layer_grad {rows}×{cols} N={n}"), &cx.read(&out, 7, rows * cols)?, &want);
    }
    Ok(())
}

fn check_sgd_update(cx: &mut Ctx, h: usize, _n: usize) -> Result<(), Error> {
    let len = 4 * h + 1;
    let params = cx.uniform(len, -1.0, 1.0);
    let grads = cx.uniform(len, -1.0, 1.0);
    let p_buf = cx.gpu.storage_from("params", &params);
    let g_buf = cx.gpu.storage_from("grads", &grads);
    cx.run(&[cx.kernels.sgd_update(cx.gpu, &p_buf, &g_buf, len, 0.37)])?;
    let mut want = params.clone();
    cpu::sgd_update(&mut want, &grads, 0.37);
    cx.record(format!("sgd_update H={h}"), &cx.read(&p_buf, 0, len)?, &want);
    Ok(())
}

/// The update rules past SGD over a packed vector of a 2-H-1 net's size (plus a margin
/// that must stay untouched): `l2_grad` over a slice at an offset, `momentum_update`, and
/// three steps of Adam from a random step count (`adam_step` then `adam_update` each).
fn check_optim(cx: &mut Ctx, h: usize, _n: usize) -> Result<(), Error> {
    let len = 4 * h + 1;
    let params = cx.uniform(len, -1.0, 1.0);
    let grads = cx.uniform(len, -1.0, 1.0);
    let m = cx.uniform(len, -0.1, 0.1);
    let v = cx.uniform(len, 0.0, 0.01);
    let t0: u32 = cx.rng.random_range(0..1000);
    let bufs = (
        cx.gpu.storage_from("params", &params),
        cx.gpu.storage_from("grads", &grads),
        cx.gpu.storage_from("m", &m),
        cx.gpu.storage_from("v", &v),
        cx.gpu.storage("adam", adam_table_len(3)),
    );
    let opt = Optimizer { lr: 0.05, ..Optimizer::defaults(OptimizerKind::Adam) };
    cx.gpu.queue.write_buffer(&bufs.4, 0, bytemuck::cast_slice(&adam_table(&opt, t0 as u64 + 1, 3)));
    let b = OptimBuffers { params: &bufs.0, grads: &bufs.1, m: &bufs.2, v: &bufs.3, adam: &bufs.4 };
    let (mut p, mut g, mut m_want, mut v_want) = (params.clone(), grads.clone(), m.clone(), v.clone());
    let which = cx.current;
    match which {
        "l2_grad" => {
            let (offset, count) = (1, len - 2);
            cx.run(&[cx.kernels.l2_grad(cx.gpu, &b, offset, count, 0.3)])?;
            cpu::l2_grad(&mut g[offset..offset + count], &p[offset..offset + count], 0.3);
            cx.record(format!("l2_grad P={len}"), &cx.read(&bufs.1, 0, len)?, &g);
        }
        "momentum_update" => {
            cx.run(&[cx.kernels.momentum_update(cx.gpu, &b, len, 0.7, 0.9)])?;
            cpu::momentum_update(&mut p, &mut v_want, &g, 0.7, 0.9);
            cx.record(format!("momentum_update P={len}, params"), &cx.read(&bufs.0, 0, len)?, &p);
            cx.record(format!("momentum_update P={len}, v"), &cx.read(&bufs.3, 0, len)?, &v_want);
        }
        _ => {
            for step in 1..=3u64 {
                cx.run(&cx.kernels.adam_update(cx.gpu, &b, len, &opt))?;
                cpu::adam_update(&mut p, &mut m_want, &mut v_want, &g, &opt.adam_step(t0 as u64 + step));
            }
            cx.record(format!("{which} P={len} t={t0}+3, params"), &cx.read(&bufs.0, 0, len)?, &p);
            cx.record(format!("{which} P={len}, m"), &cx.read(&bufs.2, 0, len)?, &m_want);
            cx.record(format!("{which} P={len}, v"), &cx.read(&bufs.3, 0, len)?, &v_want);
        }
    }
    Ok(())
}

/// The fused kernels do a whole epoch, so their twin is the CPU's `epoch`: one epoch from
/// random weights on `n` random samples, weights and loss compared.
fn check_epoch(cx: &mut Ctx, h: usize, n: usize, path: Path) -> Result<(), Error> {
    let seed = cx.rng.random();
    let params = Params::init(h, seed);
    let data = Dataset::noisy_xor(n, 0.3, seed)?;
    let mut want = params.clone();
    let want_loss = cpu::epoch(&mut want, &data.xt, &data.t, 0.5);
    let mut trainer = GpuTrainer::with_path(cx.gpu.clone(), &params, &data, 0.5, path, 1)?;
    let mut loss = [f32::NAN];
    trainer.run_epochs(&mut loss)?;
    let got: Vec<f32> = trainer.params()?.iter().collect();
    cx.record(format!("{path:?} epoch, weights, H={h} N={n}"), &got, &want.iter().collect::<Vec<_>>());
    cx.record(format!("{path:?} epoch, loss, H={h} N={n}"), &loss, &[want_loss]);
    Ok(())
}

fn check_train_tiny(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    if n <= 64 {
        check_epoch(cx, h, n, Path::Tiny)?;
    }
    Ok(())
}

/// The fused pair for any net (mlp_partials, mlp_reduce) does a whole epoch up to the
/// update, so its twin is one epoch of [`cpu::mlp`]: a 2-H-H-1 tanh net with momentum, from
/// random weights on `n` random samples, weights and loss compared. The form of the sums
/// changes with `h + n` over those the adapter has, so the table covers each.
fn check_mlp_epoch(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::net::optim::OptState;
    use crate::net::{Activation, Net};
    let seed = cx.rng.random();
    let net = Net::new(vec![2, h, h, 1], Activation::Tanh).map_err(Error::Input)?;
    let mlp = net.init(seed);
    let data = Dataset::noisy_xor(n, 0.3, seed)?;
    let opt = Optimizer { lr: 0.5, ..Optimizer::defaults(OptimizerKind::Momentum) };
    let mut want = mlp.clone();
    let mut state = OptState::new(opt.kind, net.param_count());
    let want_loss = cpu::mlp::epoch(&mut want, &data.xt, &data.t, &opt, &mut state);
    use crate::gpu::fused_mlp::PartialSums;
    let forms = [PartialSums::Direct, PartialSums::Tree, PartialSums::Subgroups];
    let forms = if cx.gpu.has_subgroups() { &forms[..] } else { &forms[..2] };
    let sums = forms[(h + n) % forms.len()];
    let path = crate::gpu::mlp::MlpPath::Fused;
    let mut trainer =
        crate::gpu::mlp::MlpGpuTrainer::with_reduction(cx.gpu.clone(), &mlp, &data, opt, None, path, Some(sums))?;
    let mut loss = [f32::NAN];
    trainer.run_epochs(&mut loss)?;
    let got = trainer.mlp()?.params;
    let what = format!("fused 2-{h}-{h}-1 tanh epoch ({}), N={n}", sums.name());
    cx.record(format!("{what}, weights"), &got, &want.params);
    cx.record(format!("{what}, loss"), &loss, &[want_loss]);
    Ok(())
}

/// The many-epochs kernel for any net (train_mlp_tiny) does whole epochs, the update
/// included, so its twin is epochs of [`cpu::mlp`]: a 2-h-h-1 net (the activation changing
/// with h, the rule with h + n, L2 on every other size) from random weights on `n` random
/// samples where the batch is small enough for it; three epochs, each in a dispatch of its
/// own (so Adam's step and the loss slot are carried from one dispatch to the next), weights,
/// the optimizer's state and the losses compared.
fn check_mlp_tiny(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::gpu::mlp::{MlpGpuTrainer, MlpPath};
    use crate::net::{Activation, Net};
    let activation = [Activation::Sigmoid, Activation::Tanh, Activation::Relu][h % 3];
    let net = Net::new(vec![2, h, h, 1], activation).map_err(Error::Input)?;
    // Each case compiles a kernel of its own (the net, the rule and the workgroup are written
    // into it): 3 and 64 samples add no shape that 4 and 63 do not.
    if crate::gpu::mlp::unfit(cx.gpu, &net, n, MlpPath::Tiny).is_some() || n == 3 || n == 64 {
        return Ok(());
    }
    let kind = [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam][(h + n) % 3];
    // ε = 0.1: over three epochs Adam's lr·g/(|g| + ε) carries f32's last bits of a small
    // gradient into the weights each step, and a saturated tanh unit's 1 − a² has few good
    // bits (`check --seed 7`, 2-1-1-1 tanh on 4 samples: 3.5e-5 at ε = 10⁻³). With ε past
    // such gradients a step moves no more than its gradient's error: the comparison measures
    // the kernel (the table carried across dispatches, the moments), not the rounding.
    let l2 = if (h + n).is_multiple_of(2) { 0.01 } else { 0.0 };
    let opt = Optimizer { lr: 0.1, l2, eps: 0.1, ..Optimizer::defaults(kind) };
    let epochs = 3;
    let seed = cx.rng.random();
    let mlp = net.init(seed);
    let data = Dataset::noisy_xor(n, 0.3, seed)?;
    let want = ReferenceEpochs::run(&mlp, &data, &opt, epochs);
    let options = crate::gpu::mlp::MlpGpuOptions { epochs_per_dispatch: Some(1), ..Default::default() };
    let mut trainer = MlpGpuTrainer::with_options(cx.gpu.clone(), &mlp, &data, opt, None, MlpPath::Tiny, options)?;
    let mut losses = vec![f32::NAN; epochs];
    trainer.run_epochs(&mut losses)?;
    let what = format!("2-{h}-{h}-1 {} {}, N={n}, {epochs} epochs", activation.name(), opt.describe());
    want.record(cx, &what, &mut trainer, &losses)
}

/// Epochs of [`cpu::mlp`] from given weights, with what f32 knows their optimizer's state
/// to: the twin of a GPU path's epochs, the update included.
struct ReferenceEpochs {
    params: Vec<f32>,
    state: crate::net::optim::OptState,
    m_scale: Vec<f32>,
    v_scale: Vec<f32>,
    losses: Vec<f32>,
}

impl ReferenceEpochs {
    fn run(mlp: &crate::net::Mlp, data: &Dataset, opt: &Optimizer, epochs: usize) -> Self {
        let mut want = mlp.clone();
        let mut state = crate::net::optim::OptState::new(opt.kind, mlp.net.param_count());
        // The state is known as well as the gradients it gathers, and f32 knows a sum over the
        // samples that cancels only to ε·Σ|terms| (`check --seed 13`, 2-1-1-1 tanh by Adam on 4
        // samples: m and v 1.2e-5 apart, norm-wise). Its scale: the same recursions on the terms'
        // magnitudes (|g| for m and momentum's buffer, 2|g|·|terms| for v).
        let (mut m_scale, mut v_scale) = (vec![0.0f32; state.m.len()], vec![0.0f32; state.v.len()]);
        let mut losses = Vec::new();
        for _ in 0..epochs {
            let (g, terms) = gradient_and_terms(&want, data, opt.l2);
            match opt.kind {
                OptimizerKind::Sgd => {}
                OptimizerKind::Momentum => {
                    v_scale.iter_mut().zip(&terms).for_each(|(v, &a)| *v = opt.momentum * *v + a);
                }
                OptimizerKind::Adam => {
                    m_scale.iter_mut().zip(&terms).for_each(|(m, &a)| *m = opt.beta1 * *m + (1.0 - opt.beta1) * a);
                    for ((v, &a), &g) in v_scale.iter_mut().zip(&terms).zip(&g) {
                        *v = opt.beta2 * *v + (1.0 - opt.beta2) * 2.0 * g.abs() * a;
                    }
                }
            }
            losses.push(cpu::mlp::epoch(&mut want, &data.xt, &data.t, opt, &mut state));
        }
        ReferenceEpochs { params: want.params, state, m_scale, v_scale, losses }
    }

    /// `trainer`'s weights, state and `losses` after the same epochs, recorded as `what`.
    fn record(&self, cx: &mut Ctx, what: &str, trainer: &mut dyn Trainer, losses: &[f32]) -> Result<(), Error> {
        cx.record(format!("{what}, weights"), &trainer.mlp()?.params, &self.params);
        let got_state = trainer.optimizer_state()?;
        // m and v apart: Adam's v (about (1 − β₂)·g²) would hide under m's scale in one norm.
        if !self.state.m.is_empty() {
            cx.record_scaled(format!("{what}, state m"), &got_state.m, &self.state.m, &self.m_scale);
        }
        if !self.state.v.is_empty() {
            cx.record_scaled(format!("{what}, state v"), &got_state.v, &self.state.v, &self.v_scale);
        }
        cx.record_losses(format!("{what}, losses"), losses, &self.losses);
        Ok(())
    }
}

/// The gradient of `mlp` on `data` (L2's `λ·w` added to the weights'), and the sum of its
/// terms' magnitudes: each sample's own gradient's, and `|λ·w|`.
fn gradient_and_terms(mlp: &crate::net::Mlp, data: &Dataset, l2: f32) -> (Vec<f32>, Vec<f32>) {
    let n = data.len();
    let d = mlp.net.inputs();
    let mut g = cpu::mlp::backward(mlp, &data.xt, &data.t, &cpu::mlp::forward(mlp, &data.xt));
    let mut terms = vec![0.0f32; g.len()];
    for s in 0..n {
        let xt: Vec<f32> = (0..d).map(|c| data.xt[c * n + s]).collect();
        let t = [data.t[s]];
        // One sample's gradient is its term of the mean times N.
        let one = cpu::mlp::backward(mlp, &xt, &t, &cpu::mlp::forward(mlp, &xt));
        terms.iter_mut().zip(one).for_each(|(a, x)| *a += x.abs() / n as f32);
    }
    for shape in mlp.net.shapes() {
        for k in shape.w..shape.b {
            g[k] += l2 * mlp.params[k];
            terms[k] += (l2 * mlp.params[k]).abs();
        }
    }
    (g, terms)
}

fn check_epoch_partials(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    check_epoch(cx, h, n, Path::Fused)
}

/// The population kernel against its twin ([`cpu::population::train_population`]): `n`
/// networks of width `h` (their rates and scales mixed) on `n` noisy samples, where the
/// set fits the kernel's workgroup memory, for 5 epochs (momentum 3, Adam 1); weights and
/// losses compared.
/// The activation and the rule change with `h` and `n`, so the table covers each (Adam
/// at n = 65 and 1000 among others).
fn check_train_population(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::net::Activation;
    use crate::population::{Cell, Group, Setup, MAX_DATA_FLOATS};
    if n * 3 > MAX_DATA_FLOATS {
        return Ok(());
    }
    let activation = [Activation::Sigmoid, Activation::Tanh, Activation::Relu][h % 3];
    let optimizer = [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam][n % 3];
    let setup = Setup {
        inputs: 2,
        activation,
        // ε = 10⁻³: Adam's step is lr·g/(|g| + ε), as sensitive to g's relative error as g is
        // small, and a sum over the samples that cancels to near 0 has a large one in f32
        // (one draw in about ten gave 2.3e-5 at PyTorch's 10⁻⁸). With ε past such gradients
        // the step is smooth in g and the comparison measures the kernel, not the rounding.
        optimizer: Optimizer { eps: 1e-3, ..Optimizer::defaults(optimizer) },
        // Adam's step is about ±lr wherever a gradient is near 0, so a last-bit difference
        // there grows by a step each epoch: one step is what compares weight by weight.
        // Momentum carries each epoch's gradient, and its f32 rounding, into every later step
        // (five epochs move the weights by 13 gradients' worth, against SGD's 5): three keep
        // a sum over 1,000 samples within the tolerance (`check --seed 28`: 1.01e-5 at five).
        epochs: match optimizer {
            OptimizerKind::Adam => 1,
            OptimizerKind::Momentum => 3,
            OptimizerKind::Sgd => 5,
        },
        target_loss: 0.3,
        stop_at_success: false,
    };
    let seed: u64 = cx.rng.random();
    let data = Dataset::noisy_xor(n, 0.3, seed)?;
    let cells: Vec<Cell> =
        [(0.1, 1.0), (0.5, 2.0), (1.0, 0.5)].map(|(lr, init_scale)| Cell { hidden: h, lr, init_scale }).to_vec();
    let members: Vec<(usize, u64)> = (0..n).map(|k| (k % 3, seed.wrapping_add(k as u64))).collect();
    let mut want = Group::new(&setup, &cells, h, &members);
    let mut got = want.clone();
    cpu::population::train_population(&setup, &data, &mut want, 0, setup.epochs);
    let kernel = crate::gpu::population::PopulationKernel::new(cx.gpu, &setup, h)?;
    kernel.train(cx.gpu, &setup, &data, &mut got, |_| {})?;
    let what = format!("{n} nets 2-{h}-1 {} {}", activation.name(), optimizer.name());
    cx.record(format!("{what}, weights"), &got.params, &want.params);
    let losses = |g: &Group| g.status.iter().map(|s| s.loss).collect::<Vec<f32>>();
    cx.record_losses(format!("{what}, final losses"), &losses(&got), &losses(&want));
    Ok(())
}

/// The live page's forward pass over points against its twin
/// ([`cpu::mlp::forward_points`]): a 2-h-h-1 net (the activation changing with `n`) at `n`
/// random points, the output and every hidden unit (up to 64) compared.
fn check_forward_points(cx: &mut Ctx, h: usize, n: usize) -> Result<(), Error> {
    use crate::net::{Activation, Net};
    let activation = [Activation::Sigmoid, Activation::Tanh, Activation::Relu][n % 3];
    let net = Net::new(vec![2, h, h, 1], activation).map_err(Error::Input)?;
    let mlp = net.init(cx.rng.random());
    let xt = cx.uniform(2 * n, -3.0, 3.0);
    let shown: Vec<(usize, usize)> = (1..=2).flat_map(|l| (0..h).map(move |u| (l, u))).take(64).collect();
    let (want, want_units) = cpu::mlp::forward_points(&mlp, &xt, &shown);
    // Two sets sharing the outputs, as the page's grids do: the second starts after the first.
    let first = cx.uniform(2 * 7, -3.0, 3.0);
    let kernel = crate::gpu::points::PointsForward::new(cx.gpu, &net, &[(&first, &[]), (&xt, &shown)])?;
    let mut sets = kernel.run(&mlp.params)?;
    let (got, got_units) = sets.pop().expect("the second set");
    let (got_first, _) = sets.pop().expect("the first set");
    let what = format!("2-{h}-{h}-1 {} at {n} points", activation.name());
    cx.record(format!("{what}, output"), &got, &want);
    cx.record(format!("{what}, hidden units"), &got_units.concat(), &want_units.concat());
    cx.record(format!("{what}, a first set of 7 points"), &got_first, &cpu::mlp::forward_points(&mlp, &first, &[]).0);
    Ok(())
}

type Check = fn(&mut Ctx, usize, usize) -> Result<(), Error>;

/// Each kernel's name, which is also its CPU twin's, and its check. The fused kernels do a
/// whole epoch, so their twin is the CPU's [`cpu::epoch`].
const CHECKS: [(&str, Check); 28] = [
    ("matmul", check_matmul),
    ("add_bias", check_add_bias),
    ("sigmoid", check_sigmoid),
    ("sigmoid_backward", check_sigmoid_backward),
    ("tanh", check_tanh),
    ("tanh_backward", check_backward),
    ("relu", check_relu),
    ("relu_backward", check_backward),
    ("l2_grad", check_optim),
    ("momentum_update", check_optim),
    // adam_step only counts t: checked by the steps of adam_update it sets up.
    ("adam_step", check_optim),
    ("adam_update", check_optim),
    ("bce_loss", check_bce_loss),
    ("bce_grad", check_bce_grad),
    ("sum_rows", check_sum_rows),
    ("sum_cols", check_sum_cols),
    ("layer_forward", check_layer_forward),
    ("layer_backward", check_layer_backward),
    ("layer_grad", check_layer_grad),
    ("sgd_update", check_sgd_update),
    ("train_tiny", check_train_tiny),
    ("epoch_partials", check_epoch_partials),
    // apply_update finishes every fused epoch: checked with it.
    ("apply_update", check_epoch_partials),
    ("mlp_partials", check_mlp_epoch),
    // mlp_reduce finishes every mlp_partials pass: checked with it.
    ("mlp_reduce", check_mlp_epoch),
    ("train_mlp_tiny", check_mlp_tiny),
    ("train_population", check_train_population),
    ("forward_points", check_forward_points),
];

/// What `check --layers` checks: one model, every GPU path that takes it at each batch
/// (the step and tiled kernels; where the net is narrow enough, the fused pair with each form
/// of its sums the adapter has; on a small enough batch, the many-epochs kernel), each
/// against [`cpu::mlp`] on fresh random weights and samples: the gradient, then three epochs'
/// weights, optimizer state and losses. The rule is `kind` with λ = `l2`, at lr 0.1 and (for
/// Adam) ε = 0.1, as in `train_mlp_tiny`'s check: the comparison measures the kernels, not
/// f32's last bits carried through Adam's early steps. A line per path, as for the kernels.
pub fn check_model(
    gpu: &Gpu,
    net: &crate::net::Net,
    kind: OptimizerKind,
    l2: f32,
    batches: &[usize],
    seed: u64,
) -> Result<Vec<CheckResult>, Error> {
    use crate::gpu::fused_mlp::PartialSums;
    use crate::gpu::mlp::{unfit, MlpGpuTrainer, MlpPath};
    let mut cx = Ctx {
        gpu,
        kernels: Kernels::new(gpu)?,
        tiled: TiledKernels::new(gpu)?,
        rng: ChaCha8Rng::seed_from_u64(seed),
        results: Vec::new(),
        current: "",
    };
    let opt = Optimizer { lr: 0.1, l2, eps: 0.1, ..Optimizer::defaults(kind) };
    let epochs = 3;
    // Each batch's weights, samples and reference, shared by every path.
    let cases: Vec<_> = batches
        .iter()
        .map(|&n| {
            let mlp = random_mlp(&mut cx.rng, net);
            let data = random_data(&mut cx.rng, net.inputs(), n);
            let gradient = gradient_and_terms(&mlp, &data, 0.0);
            let want = ReferenceEpochs::run(&mlp, &data, &opt, epochs);
            (mlp, data, gradient, want)
        })
        .collect();
    let mut paths = vec![
        ("step", MlpPath::Step, None),
        ("tiled", MlpPath::Tiled, None),
        ("fused, direct", MlpPath::Fused, Some(PartialSums::Direct)),
        ("fused, trees", MlpPath::Fused, Some(PartialSums::Tree)),
    ];
    if gpu.has_subgroups() {
        paths.push(("fused, subgroups", MlpPath::Fused, Some(PartialSums::Subgroups)));
    }
    paths.push(("many epochs", MlpPath::Tiny, None));
    for (name, path, sums) in paths {
        cx.current = name;
        for (mlp, data, (g, terms), want) in &cases {
            let n = data.len();
            if unfit(gpu, net, n, path).is_some() {
                continue;
            }
            let mut trainer = MlpGpuTrainer::with_reduction(gpu.clone(), mlp, data, opt, None, path, sums)?;
            cx.record_scaled(format!("N={n}, gradient"), &trainer.gradients()?, g, terms);
            let mut losses = vec![f32::NAN; epochs];
            trainer.run_epochs(&mut losses)?;
            want.record(&mut cx, &format!("N={n}, {epochs} epochs"), &mut trainer, &losses)?;
        }
    }
    Ok(cx.results)
}

/// `n` samples of `d` inputs in [−2, 2), labelled by a random linear rule (no noise).
pub fn random_data(rng: &mut ChaCha8Rng, d: usize, n: usize) -> Dataset {
    let xt: Vec<f32> = (0..d * n).map(|_| rng.random_range(-2.0..2.0)).collect();
    let rule: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let t = (0..n).map(|i| f32::from(u8::from((0..d).map(|k| rule[k] * xt[k * n + i]).sum::<f32>() > 0.0))).collect();
    Dataset { xt, t }
}

/// The net's initial weights with random biases too (the init's are 0, which would leave
/// the bias offsets untested).
pub fn random_mlp(rng: &mut ChaCha8Rng, net: &crate::net::Net) -> crate::net::Mlp {
    let mut mlp = net.init(rng.random());
    for s in net.shapes() {
        for b in &mut mlp.params[s.b..s.b + s.rows] {
            *b = rng.random_range(-0.5..0.5);
        }
    }
    mlp
}

/// One epoch of the step-by-step path against [`cpu::epoch`] at every (H, N) pair.
pub fn check_step_epochs(gpu: &Gpu, hidden: &[usize], batches: &[usize], seed: u64) -> Result<Vec<CheckResult>, Error> {
    let mut cx = Ctx {
        gpu,
        kernels: Kernels::new(gpu)?,
        tiled: TiledKernels::new(gpu)?,
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        results: Vec::new(),
        current: "step epoch",
    };
    for &n in batches {
        for &h in hidden {
            check_epoch(&mut cx, h, n, Path::Step)?;
        }
    }
    Ok(cx.results)
}
