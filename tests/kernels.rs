//! Every WGSL kernel against its CPU twin of the same name, on fresh random inputs at
//! awkward sizes, with every output poisoned with NaN first so an unwritten element fails.
//!
//! Inputs that feed a sum over the batch are drawn from [−0.5, 1): with a positive mean the
//! sum cannot cancel to nearly zero, which would make the relative error meaningless.

mod common;

use common::{assert_close, gpu, rng, uniform, SIZES_H, SIZES_N};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use xorgpu::cpu;
use xorgpu::data::Dataset;
use xorgpu::gpu::kernels::{self, fused_source, Kernels, Operand, Scratch, SHADERS};
use xorgpu::gpu::trainer::Path;
use xorgpu::gpu::{Gpu, GpuTrainer};
use xorgpu::model::Params;
use xorgpu::train::Trainer;

/// ‖gpu − cpu‖ / ‖cpu‖ allowed: f32 rounding over at most a few hundred sequential terms
/// then a tree, against an f64-accumulated reference, stays near 1e-6 at these sizes.
const TOL: f64 = 1e-5;

struct Ctx {
    gpu: Gpu,
    kernels: Kernels,
    rng: ChaCha8Rng,
}

impl Ctx {
    fn poisoned(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.gpu.storage_from(label, &vec![f32::NAN; len])
    }

    fn read(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Vec<f32> {
        let staging = self.gpu.staging(len);
        let mut out = vec![0.0; len];
        self.gpu.read(buffer, offset, &staging, &mut out).expect("read back");
        out
    }

    fn run(&self, dispatches: &[kernels::Dispatch]) {
        kernels::submit(&self.gpu, dispatches).expect("kernels run");
    }
}

/// The five products of the forward and backward passes, each with its operands at an
/// offset inside a larger buffer, as the packed parameters are.
fn check_matmul(cx: &mut Ctx, h: usize, n: usize) {
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
        let a = uniform(&mut cx.rng, a_off + m * k, -0.5, 1.0);
        let b = uniform(&mut cx.rng, b_off + k * p, -0.5, 1.0);
        let a_buf = cx.gpu.storage_from("a", &a);
        let b_buf = cx.gpu.storage_from("b", &b);
        let c_buf = cx.poisoned("c", c_off + m * p);
        let scratch = Scratch::new(&cx.gpu, m * p, k);
        let d = cx.kernels.matmul(
            &cx.gpu,
            Operand::new(&a_buf, a_off, a_t),
            Operand::new(&b_buf, b_off, b_t),
            &c_buf,
            c_off,
            (m, k, p),
            &scratch,
        );
        cx.run(&d);
        let want = cpu::matmul(&a[a_off..], a_t, &b[b_off..], b_t, m, k, p);
        assert_close(&format!("matmul {label}, H={h} N={n}"), &cx.read(&c_buf, c_off, m * p), &want, TOL);
    }
}

fn check_add_bias(cx: &mut Ctx, h: usize, n: usize) {
    let z = uniform(&mut cx.rng, h * n, -4.0, 4.0);
    let bias = uniform(&mut cx.rng, 2 + h, -1.0, 1.0);
    let z_buf = cx.gpu.storage_from("z", &z);
    let bias_buf = cx.gpu.storage_from("bias", &bias);
    cx.run(&[cx.kernels.add_bias(&cx.gpu, &z_buf, &bias_buf, 2, (h, n))]);
    let mut want = z.clone();
    cpu::add_bias(&mut want, &bias[2..], n);
    assert_close(&format!("add_bias H={h} N={n}"), &cx.read(&z_buf, 0, h * n), &want, TOL);
}

fn check_sigmoid(cx: &mut Ctx, h: usize, n: usize) {
    let g = uniform(&mut cx.rng, h * n, -30.0, 30.0);
    let g_buf = cx.gpu.storage_from("g", &g);
    let s_buf = cx.poisoned("s", h * n);
    cx.run(&[cx.kernels.sigmoid(&cx.gpu, &g_buf, &s_buf, (h, n))]);
    assert_close(&format!("sigmoid H={h} N={n}"), &cx.read(&s_buf, 0, h * n), &cpu::sigmoid(&g), TOL);
}

fn check_sigmoid_backward(cx: &mut Ctx, h: usize, n: usize) {
    let ds = uniform(&mut cx.rng, h * n, -1.0, 1.0);
    let s = uniform(&mut cx.rng, h * n, 0.0, 1.0);
    let ds_buf = cx.gpu.storage_from("ds", &ds);
    let s_buf = cx.gpu.storage_from("s", &s);
    let dg_buf = cx.poisoned("dg", h * n);
    cx.run(&[cx.kernels.sigmoid_backward(&cx.gpu, &ds_buf, &s_buf, &dg_buf, (h, n))]);
    assert_close(
        &format!("sigmoid_backward H={h} N={n}"),
        &cx.read(&dg_buf, 0, h * n),
        &cpu::sigmoid_backward(&ds, &s),
        TOL,
    );
}

fn targets(cx: &mut Ctx, n: usize) -> Vec<f32> {
    uniform(&mut cx.rng, n, 0.0, 1.0).into_iter().map(|u| if u < 0.5 { 0.0 } else { 1.0 }).collect()
}

fn check_bce_loss(cx: &mut Ctx, _h: usize, n: usize) {
    let s2 = uniform(&mut cx.rng, n, 0.001, 0.999);
    let t = targets(cx, n);
    let s2_buf = cx.gpu.storage_from("s2", &s2);
    let t_buf = cx.gpu.storage_from("t", &t);
    let out = cx.poisoned("loss", 4);
    let scratch = Scratch::new(&cx.gpu, 1, n);
    cx.run(&cx.kernels.bce_loss(&cx.gpu, &s2_buf, &t_buf, n, &out, 2, &scratch));
    assert_close(&format!("bce_loss N={n}"), &cx.read(&out, 2, 1), &[cpu::bce_loss(&s2, &t)], TOL);
}

fn check_bce_grad(cx: &mut Ctx, _h: usize, n: usize) {
    let s2 = uniform(&mut cx.rng, n, 0.001, 0.999);
    let t = targets(cx, n);
    let s2_buf = cx.gpu.storage_from("s2", &s2);
    let t_buf = cx.gpu.storage_from("t", &t);
    let d_buf = cx.poisoned("d_s2", n);
    cx.run(&[cx.kernels.bce_grad(&cx.gpu, &s2_buf, &t_buf, &d_buf, n)]);
    assert_close(&format!("bce_grad N={n}"), &cx.read(&d_buf, 0, n), &cpu::bce_grad(&s2, &t), TOL);
}

fn check_sum_rows(cx: &mut Ctx, h: usize, n: usize) {
    let a = uniform(&mut cx.rng, 1 + h * n, -0.5, 1.0);
    let a_buf = cx.gpu.storage_from("a", &a);
    let out = cx.poisoned("out", 3 + h);
    let scratch = Scratch::new(&cx.gpu, h, n);
    cx.run(&cx.kernels.sum_rows(&cx.gpu, &a_buf, 1, h, n, &out, 3, 1.0, &scratch));
    assert_close(&format!("sum_rows H={h} N={n}"), &cx.read(&out, 3, h), &cpu::sum_rows(&a[1..], n), TOL);
}

fn check_sgd_update(cx: &mut Ctx, h: usize, _n: usize) {
    let len = 4 * h + 1;
    let params = uniform(&mut cx.rng, len, -1.0, 1.0);
    let grads = uniform(&mut cx.rng, len, -1.0, 1.0);
    let p_buf = cx.gpu.storage_from("params", &params);
    let g_buf = cx.gpu.storage_from("grads", &grads);
    cx.run(&[cx.kernels.sgd_update(&cx.gpu, &p_buf, &g_buf, len, 0.37)]);
    let mut want = params.clone();
    cpu::sgd_update(&mut want, &grads, 0.37);
    assert_close(&format!("sgd_update H={h}"), &cx.read(&p_buf, 0, len), &want, TOL);
}

/// The fused kernels do a whole epoch, so their twin is the CPU's `epoch`: one epoch from
/// random weights on `n` random samples, weights and loss compared.
fn check_fused_epoch(cx: &mut Ctx, h: usize, n: usize, path: Path) {
    let seed = cx.rng.random();
    let params = Params::init(h, seed);
    let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
    let mut want = params.clone();
    let want_loss = cpu::epoch(&mut want, &data.xt, &data.t, 0.5);
    let gpu = Gpu::open(cx.gpu.adapter.clone()).unwrap();
    let mut trainer = GpuTrainer::with_path(gpu, &params, &data, 0.5, path, 1).unwrap();
    let mut loss = [f32::NAN];
    trainer.run_epochs(&mut loss).unwrap();
    let got: Vec<f32> = trainer.params().unwrap().iter().collect();
    let what = format!("{path:?} epoch H={h} N={n}");
    assert_close(&what, &got, &want.iter().collect::<Vec<_>>(), TOL);
    assert_close(&what, &loss, &[want_loss], TOL);
}

fn check_train_tiny(cx: &mut Ctx, h: usize, n: usize) {
    if n <= 64 {
        check_fused_epoch(cx, h, n, Path::Tiny);
    }
}

fn check_epoch_partials(cx: &mut Ctx, h: usize, n: usize) {
    check_fused_epoch(cx, h, n, Path::Fused);
}

type Check = fn(&mut Ctx, usize, usize);

/// Each kernel's name, which is also its CPU twin's, and its check.
const CHECKS: [(&str, Check); 11] = [
    ("matmul", check_matmul),
    ("add_bias", check_add_bias),
    ("sigmoid", check_sigmoid),
    ("sigmoid_backward", check_sigmoid_backward),
    ("bce_loss", check_bce_loss),
    ("bce_grad", check_bce_grad),
    ("sum_rows", check_sum_rows),
    ("sgd_update", check_sgd_update),
    ("train_tiny", check_train_tiny),
    ("epoch_partials", check_epoch_partials),
    // apply_update finishes every fused epoch: checked with it.
    ("apply_update", check_epoch_partials),
];

#[test]
fn every_kernel_matches_its_cpu_twin() {
    let gpu = gpu();
    let kernels = Kernels::new(&gpu).expect("kernels compile");
    let mut cx = Ctx { gpu, kernels, rng: rng() };
    for (name, check) in CHECKS {
        for n in SIZES_N {
            for h in SIZES_H {
                check(&mut cx, h, n);
            }
        }
        eprintln!("{name}: ok");
    }
}

/// The table above covers every `@compute` entry point in `shaders/`, so a new kernel
/// cannot arrive without a test.
#[test]
fn every_kernel_has_a_check() {
    let fused = fused_source(2, 8);
    let mut entry_points: Vec<String> = SHADERS
        .iter()
        .map(|(_, src)| *src)
        .chain([fused.as_str()])
        .flat_map(|src| {
            src.split("@compute").skip(1).map(|rest| {
                let after = &rest[rest.find("fn ").expect("entry point") + 3..];
                after[..after.find('(').expect("parameters")].trim().to_string()
            })
        })
        .collect();
    entry_points.sort();
    let mut checked: Vec<String> = CHECKS.iter().map(|(n, _)| n.to_string()).collect();
    checked.sort();
    assert_eq!(entry_points, checked);
}

/// Every WGSL file parses and validates with the naga wgpu uses, without a device.
#[test]
fn shaders_validate() {
    use wgpu::naga;
    let fused: Vec<(String, String)> = [(1, 8), (2, 8), (16, 64), (256, 8)]
        .iter()
        .map(|&(h, wg)| (format!("fused.wgsl H={h}"), fused_source(h, wg)))
        .collect();
    let all = SHADERS.iter().map(|(n, s)| (n.to_string(), s.to_string())).chain(fused);
    for (name, source) in all {
        let (name, source) = (name.as_str(), source.as_str());
        let module =
            naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}
