//! Sigmoid and the loss at inputs that break naive formulas, on both backends.

mod common;

use common::gpu;
use xorgpu::cpu::fast::FastCpuTrainer;
use xorgpu::cpu::{self, CpuTrainer};
use xorgpu::data::Dataset;
use xorgpu::gpu::kernels::{self, Kernels, Scratch};
use xorgpu::gpu::trainer::Path;
use xorgpu::gpu::GpuTrainer;
use xorgpu::model::{Layout, Params};
use xorgpu::train::Trainer;

const Z: [f32; 7] = [100.0, -100.0, 1e4, -1e4, 0.0, 88.8, -88.8];

/// σ(z) in f64, the exact value the f32 results are held to.
fn exact_sigmoid(z: f32) -> f64 {
    1.0 / (1.0 + (-(z as f64)).exp())
}

fn read(gpu: &xorgpu::gpu::Gpu, b: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    gpu.read(b, 0, &gpu.staging(len), &mut out).unwrap();
    out
}

#[test]
fn sigmoid_is_finite_and_right_at_extremes() {
    let gpu = gpu();
    let k = Kernels::new(&gpu).unwrap();
    let g = gpu.storage_from("g", &Z);
    let s = gpu.storage_from("s", &[f32::NAN; Z.len()]);
    kernels::submit(&gpu, &[k.sigmoid(&gpu, &g, &s, (1, Z.len()))]).unwrap();
    let on_gpu = read(&gpu, &s, Z.len());
    let on_cpu = cpu::sigmoid(&Z);
    for (i, &z) in Z.iter().enumerate() {
        let want = exact_sigmoid(z);
        // Absolute 1e-7 covers σ(−100) ≈ 3.7e-44, which a GPU may flush to 0.
        for (name, got) in [("gpu", on_gpu[i]), ("cpu", on_cpu[i])] {
            assert!(
                got.is_finite() && (got as f64 - want).abs() <= 1e-7 + 1e-6 * want,
                "{name}: σ({z}) = {got}, want {want}"
            );
        }
    }
}

#[test]
fn loss_and_its_gradient_are_finite_at_certain_predictions() {
    // Each prediction exactly 0 or 1, right and wrong: the clamped log gives 0 or 100 per sample.
    let s2 = [0.0f32, 1.0, 0.0, 1.0];
    let t = [0.0f32, 1.0, 1.0, 0.0];
    let want_loss = (0.0 + 0.0 + 100.0 + 100.0) / 4.0;
    assert_eq!(cpu::bce_loss(&s2, &t), want_loss);
    let cpu_grad = cpu::bce_grad(&s2, &t);
    assert!(cpu_grad.iter().all(|g| g.is_finite()), "cpu gradient {cpu_grad:?}");
    // Back through the sigmoid, a saturated unit passes no gradient at all.
    assert!(cpu::sigmoid_backward(&cpu_grad, &s2).iter().all(|&g| g == 0.0));

    let gpu = gpu();
    let k = Kernels::new(&gpu).unwrap();
    let s2_buf = gpu.storage_from("s2", &s2);
    let t_buf = gpu.storage_from("t", &t);
    let loss = gpu.storage_from("loss", &[f32::NAN]);
    let grad = gpu.storage_from("d_s2", &[f32::NAN; 4]);
    let scratch = Scratch::new(&gpu, 1, 4);
    let mut d = k.bce_loss(&gpu, &s2_buf, &t_buf, 4, &loss, 0, &scratch);
    d.push(k.bce_grad(&gpu, &s2_buf, &t_buf, &grad, 4));
    kernels::submit(&gpu, &d).unwrap();
    assert_eq!(read(&gpu, &loss, 1)[0], want_loss, "gpu loss");
    let gpu_grad = read(&gpu, &grad, 4);
    for (g, c) in gpu_grad.iter().zip(&cpu_grad) {
        assert!(g.is_finite() && (g - c).abs() <= 1e-6 * c.abs(), "gpu gradient {gpu_grad:?}, cpu {cpu_grad:?}");
    }
}

/// Normal-range arguments where a cancelling formula (1 − σ(−z)) returns 0 or garbage.
const NEGATIVE_Z: [f32; 3] = [-20.0, -50.0, -80.0];

/// Distance from `got` to the exact `want` in units in the last place of f32 at `want`.
fn ulps(got: f32, want: f64) -> f64 {
    (got as f64 - want).abs() / ulp_at(want)
}

/// What WGSL allows `exp(x)`: 3 + 2·|x| ULP. For z ≤ −17, 1 + e^z rounds to 1, so the
/// shared sigmoid's e·(1/(1 + e)) is exactly the `exp` it took: its error is exp's, plus
/// half an ULP for the f64 value rounded to f32. (llvmpipe, measured: 0.3, 18.4 and 2.4
/// ULP at z = −20, −50, −80; the CPU's libm and polynomial 0.3–0.4.)
fn gpu_sigmoid_ulps(z: f32) -> f64 {
    3.0 + 2.0 * z.abs() as f64 + 0.5
}

/// One sample at the origin with target `t` and a 2-1-1 network whose output
/// pre-activation is exactly `z` (w2 = 0, b2 = z): the sigmoid of the output is σ(z), the
/// gradient of b2 is σ(z) − t, and the loss is −log σ(z) or −log(1 − σ(z)).
fn at_output(z: f32, t: f32) -> (Params, Dataset) {
    let params = Params { hidden: 1, w1: vec![0.0, 0.0], b1: vec![0.0], w2: vec![0.0], b2: vec![z] };
    (params, Dataset::from_rows(&[[0.0, 0.0, t]]))
}

/// Every sigmoid the project computes, at z = −20, −50, −80 (σ = 2.1e-9, 1.9e-22, 1.8e-35,
/// all normal f32), against f64 within a stated ULP bound: the step kernel; the fused and
/// tiny kernels' own copy, read through the gradient of b2 (σ(z) − 0 for one sample); the
/// reference; the fast CPU backend's polynomial.
#[test]
fn sigmoid_of_large_negative_z_is_right_to_its_ulp_bound() {
    let gpu = gpu();
    let k = Kernels::new(&gpu).unwrap();
    let g = gpu.storage_from("g", &NEGATIVE_Z);
    let s = gpu.storage_from("s", &[f32::NAN; NEGATIVE_Z.len()]);
    kernels::submit(&gpu, &[k.sigmoid(&gpu, &g, &s, (1, NEGATIVE_Z.len()))]).unwrap();
    let step = read(&gpu, &s, NEGATIVE_Z.len());
    for (i, &z) in NEGATIVE_Z.iter().enumerate() {
        let want = exact_sigmoid(z);
        let (params, data) = at_output(z, 0.0);
        let through_gradient = |mut trainer: Box<dyn Trainer>| trainer.gradients().unwrap()[Layout::new(1).b2];
        let mut results = vec![("gpu step sigmoid", step[i], gpu_sigmoid_ulps(z))];
        for path in [Path::Fused, Path::Tiny] {
            let trainer = GpuTrainer::with_path(gpu.clone(), &params, &data, 1.0, path, 1).unwrap();
            let name = if path == Path::Fused { "gpu fused sigmoid" } else { "gpu tiny sigmoid" };
            results.push((name, through_gradient(Box::new(trainer)), gpu_sigmoid_ulps(z)));
        }
        // libm's expf is within 1 ULP.
        results.push(("cpu reference sigmoid", cpu::sigmoid_scalar(z), 1.5));
        // The polynomial exp's relative error ≤ 4e-7 is at most 6.7 ULP (an ULP is ≥ 2^-24
        // of the value).
        let fast = FastCpuTrainer::new(params.clone(), data.clone(), 1.0);
        results.push(("fast cpu sigmoid", through_gradient(Box::new(fast)), 4e-7 * 16_777_216.0 + 0.5));
        for (name, got, bound) in results {
            let off = ulps(got, want);
            assert!(off <= bound, "{name}: σ({z}) = {got:e}, exact {want:e}: {off:.1} ULP, bound {bound}");
        }
    }
}

/// The loss at the same points. Target 1: −log σ(z) ≈ −z is a normal float, held to the
/// log's own bound (WGSL: 3 ULP away from 1; the polynomial: 5e-7 relative) plus what σ's
/// error moves it (its relative error, absolute in the log). Target 0: −log(1 − σ(z)) is
/// about σ(z), far below f32's spacing at 1, so 1 − σ(z) rounds to 1 and the term is exactly
/// 0 in f32, by design and as PyTorch's float32 BCELoss gives; asserted as exactly 0.
#[test]
fn loss_at_large_negative_z_is_right_to_its_bound() {
    for &z in &NEGATIVE_Z {
        let want = -exact_sigmoid(z).ln();
        let sigma_error = gpu_sigmoid_ulps(z) * f32::EPSILON as f64;
        let mut trainers: Vec<(String, Box<dyn Trainer>, f64)> = Vec::new();
        let (params, data) = at_output(z, 1.0);
        for path in [Path::Step, Path::Fused, Path::Tiny] {
            let trainer = GpuTrainer::with_path(gpu(), &params, &data, 1.0, path, 1).unwrap();
            // The step path logs the f32 σ it computed; its own σ error enters the same way.
            trainers.push((format!("gpu {path:?}"), Box::new(trainer), 3.5 + sigma_error / ulp_at(want)));
        }
        trainers.push(("cpu reference".into(), Box::new(CpuTrainer::new(params.clone(), data.clone(), 1.0)), 2.0));
        let fast_bound = (5e-7 * want + 4e-7) / ulp_at(want) + 0.5;
        trainers.push(("fast cpu".into(), Box::new(FastCpuTrainer::new(params, data, 1.0)), fast_bound));
        for (name, mut trainer, bound) in trainers {
            let got = trainer.loss().unwrap();
            let off = ulps(got, want);
            assert!(off <= bound, "{name}: loss at z={z}, t=1: {got} vs exact {want}: {off:.1} ULP, bound {bound:.1}");
        }

        let (params, data) = at_output(z, 0.0);
        let mut zero: Vec<(String, Box<dyn Trainer>)> = vec![
            ("cpu reference".into(), Box::new(CpuTrainer::new(params.clone(), data.clone(), 1.0))),
            ("fast cpu".into(), Box::new(FastCpuTrainer::new(params.clone(), data.clone(), 1.0))),
        ];
        for path in [Path::Step, Path::Fused, Path::Tiny] {
            zero.push((
                format!("gpu {path:?}"),
                Box::new(GpuTrainer::with_path(gpu(), &params, &data, 1.0, path, 1).unwrap()),
            ));
        }
        for (name, mut trainer) in zero {
            assert_eq!(trainer.loss().unwrap(), 0.0, "{name}: the t=0 term at z={z} rounds to exactly 0 in f32");
        }
    }
}

/// One ULP of f32 at `x`.
fn ulp_at(x: f64) -> f64 {
    let w = (x as f32).abs();
    (f32::from_bits(w.to_bits() + 1) - w) as f64
}

/// Below the smallest normal float a prediction counts as 0 and its log as the clamp, −100,
/// on every GPU path and the reference, whether or not the adapter keeps denormals (GPUs
/// may flush them; the design flushes them everywhere so that all agree): a log of a
/// denormal would give −87 to −103 depending on the hardware.
#[test]
fn denormal_predictions_log_as_the_clamp() {
    let gpu = gpu();
    let k = Kernels::new(&gpu).unwrap();
    let s2 = [1e-40f32, 1e-44, 1.1e-38];
    let t = [1.0f32; 3];
    let s2_buf = gpu.storage_from("s2", &s2);
    let t_buf = gpu.storage_from("t", &t);
    let loss = gpu.storage_from("loss", &[f32::NAN]);
    let scratch = Scratch::new(&gpu, 1, 3);
    kernels::submit(&gpu, &k.bce_loss(&gpu, &s2_buf, &t_buf, 3, &loss, 0, &scratch)).unwrap();
    assert_eq!(read(&gpu, &loss, 1)[0], 100.0, "gpu step bce_loss");
    assert_eq!(cpu::bce_loss(&s2, &t), 100.0, "cpu reference");
    // σ(−92) ≈ 1.1e-40: the fused kernels' own sigmoid and log, and the CPU backend's
    // polynomial exp, which flushes below e^−87.34 (it once stopped at e^−87 and logged such
    // a sample as 87 where every other path says 100). Just above the smallest normal σ,
    // all give the log itself.
    for (z, want) in [(-92.0f32, 100.0f32), (-87.5, 100.0), (-87.0, -cpu::clamped_log(cpu::sigmoid_scalar(-87.0f32)))] {
        let (params, data) = at_output(z, 1.0);
        for path in [Path::Fused, Path::Tiny] {
            let mut trainer = GpuTrainer::with_path(gpu.clone(), &params, &data, 1.0, path, 1).unwrap();
            let got = trainer.loss().unwrap();
            assert!((got - want).abs() <= 1e-4 * want, "gpu {path:?} at z={z}: {got}, want {want}");
        }
        let mut general = FastCpuTrainer::general(params.clone(), data.clone(), 1e-30);
        let got = general.loss().unwrap();
        assert!((got - want).abs() <= 1e-4 * want, "fast cpu at z={z}: {got}, want {want}");
        // One sample trains in the AVX2 register path; the epoch's loss is its.
        let mut registers = FastCpuTrainer::new(params, data, 1e-30);
        let mut loss = [f32::NAN];
        registers.run_epochs(&mut loss).unwrap();
        assert!((loss[0] - want).abs() <= 1e-4 * want, "fast cpu registers at z={z}: {}, want {want}", loss[0]);
    }
}
