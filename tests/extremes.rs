//! Sigmoid and the loss at inputs that break naive formulas, on both backends.

mod common;

use common::gpu;
use xorgpu::cpu;
use xorgpu::gpu::kernels::{self, Kernels, Scratch};

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
