//! Whole epochs on the GPU against the CPU reference, from the same weights and data.

mod common;

use common::{assert_close, gpu, rng, SIZES_H};
use rand::Rng;
use xorgpu::cpu::CpuTrainer;
use xorgpu::data::Dataset;
use xorgpu::gpu::trainer::Path;
use xorgpu::gpu::GpuTrainer;
use xorgpu::model::Params;
use xorgpu::train::{train, Trainer};

fn both(params: &Params, data: &Dataset, lr: f32, path: Path) -> (CpuTrainer, GpuTrainer) {
    let cpu = CpuTrainer::new(params.clone(), data.clone(), lr);
    // 7 epochs per dispatch: blocks that do not divide evenly exercise the tiny kernel's count.
    let gpu = GpuTrainer::with_path(gpu(), params, data, lr, path, 7).expect("GPU trainer");
    (cpu, gpu)
}

/// Every GPU path that can train this batch. Tiny fits every batch up to 64 at these widths,
/// so it is left out only where it cannot run, never to make a test pass.
fn paths(h: usize, n: usize) -> Vec<Path> {
    if n <= 64 && h <= 16 {
        vec![Path::Step, Path::Tiny, Path::Fused]
    } else {
        vec![Path::Step, Path::Fused]
    }
}

fn flat(p: &Params) -> Vec<f32> {
    p.iter().collect()
}

/// Runs `epochs` epochs on both backends and compares the losses of every epoch and the
/// final weights.
fn compare(params: &Params, data: &Dataset, lr: f32, epochs: usize, tol: f64, what: &str) {
    for path in paths(params.hidden, data.len()) {
        compare_on(params, data, lr, epochs, tol, &format!("{what}, {path:?} kernels"), path);
    }
}

fn compare_on(params: &Params, data: &Dataset, lr: f32, epochs: usize, tol: f64, what: &str, path: Path) {
    let (mut cpu, mut gpu) = both(params, data, lr, path);
    let (mut cpu_losses, mut gpu_losses) = (vec![0.0; epochs], vec![f32::NAN; epochs]);
    cpu.run_epochs(&mut cpu_losses).unwrap();
    gpu.run_epochs(&mut gpu_losses).unwrap();
    assert_close(&format!("{what}: losses"), &gpu_losses, &cpu_losses, tol);
    assert_close(&format!("{what}: weights"), &flat(&gpu.params().unwrap()), &flat(&cpu.params().unwrap()), tol);
    assert_close(&format!("{what}: final loss"), &[gpu.loss().unwrap()], &[cpu.loss().unwrap()], tol);
}

#[test]
fn one_epoch_matches_cpu() {
    let mut rng = rng();
    for n in [1, 3, 4, 65, 1000, 100_003] {
        for h in SIZES_H {
            let seed = rng.random();
            let params = Params::init(h, seed);
            let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
            compare(&params, &data, 0.5, 1, 1e-5, &format!("one epoch, H={h} N={n}"));
        }
    }
}

#[test]
fn thousand_epochs_match_cpu() {
    let mut rng = rng();
    for (h, n) in [(2, 4), (3, 63), (16, 1000)] {
        let seed = rng.random();
        let params = Params::init(h, seed);
        let data = Dataset::for_batch(n, 0.1, seed).unwrap();
        compare(&params, &data, 1.0, 1000, 1e-4, &format!("1000 epochs, H={h} N={n}"));
    }
}

/// The promise for the defaults (H = 2, seed 1, lr 2, the XOR table): after
/// 10,000 epochs the two backends' weights agree to 1e-4 relative.
#[test]
fn ten_thousand_epochs_follow_the_same_trajectory() {
    let params = Params::init(2, 1);
    let data = Dataset::xor();
    for path in paths(2, 4) {
        let (mut cpu, mut gpu) = both(&params, &data, 2.0, path);
        let on_cpu = train(&mut cpu, 10_000, 10_000, |_, _| {}).unwrap();
        let on_gpu = train(&mut gpu, 10_000, 10_000, |_, _| {}).unwrap();
        assert_close(
            &format!("{path:?}: weights after 10,000 epochs"),
            &on_gpu.params.params,
            &on_cpu.params.params,
            1e-4,
        );
        assert!(on_cpu.final_loss < 0.05 && on_gpu.final_loss < 0.05, "both learn XOR");
    }
}

/// A learning rate that overflows the weights stops training at the first non-finite loss.
/// (Sigmoids saturate, so a merely large rate leaves huge but finite weights and a finite,
/// clamped loss; it takes an update that overflows f32 to make the loss NaN.) The first
/// update overflows by orders of magnitude: an update only just past f32's range overflows
/// or not depending on whether the compiler fused w − lr·g into one rounding (NVIDIA's
/// did, and the GPU ran on with weights near 3e38 where the CPU had stopped).
#[test]
fn divergence_is_caught_at_its_epoch() {
    let params =
        Params { hidden: 2, w1: vec![0.1, -0.1, 0.1, 0.1], b1: vec![0.0, 0.0], w2: vec![1e3, -1e3], b2: vec![0.0] };
    let data = Dataset::noisy_xor(64, 2.0, 3).unwrap();
    for path in paths(2, 64) {
        let (mut cpu, mut gpu) = both(&params, &data, 1e38, path);
        let cpu_err = train(&mut cpu, 100, 10, |_, _| {}).unwrap_err();
        let gpu_err = train(&mut gpu, 100, 10, |_, _| {}).unwrap_err();
        let (xorgpu::Error::Diverged { epoch: e_cpu, .. }, xorgpu::Error::Diverged { epoch: e_gpu, .. }) =
            (&cpu_err, &gpu_err)
        else {
            panic!("{path:?}: expected divergence, got {cpu_err} and {gpu_err}");
        };
        assert_eq!(e_cpu, e_gpu, "{path:?}: both stop at the same epoch");
        assert!(*e_cpu > 1 && *e_cpu < 100, "stopped at epoch {e_cpu}");
    }
}

/// The fused path is deterministic: the same inputs give bit-identical weights.
#[test]
fn fused_runs_are_bit_identical() {
    let params = Params::init(3, 5);
    let data = Dataset::noisy_xor(300_001, 0.2, 5).unwrap();
    let run = || {
        let mut gpu = GpuTrainer::with_path(gpu(), &params, &data, 0.5, Path::Fused, 1).unwrap();
        let mut losses = vec![0.0; 5];
        gpu.run_epochs(&mut losses).unwrap();
        flat(&gpu.params().unwrap())
    };
    let first = run();
    assert_eq!(first, run());
}

/// A batch bound in chunks (forced tiny here; in use, what one storage binding holds)
/// computes the same epochs as one bound whole: only the order of the partial sums differs.
#[test]
fn chunked_epochs_equal_unchunked() {
    use xorgpu::gpu::trainer::GpuOptions;
    let params = Params::init(3, 8);
    let data = Dataset::noisy_xor(10_007, 0.2, 8).unwrap();
    let run = |max_chunk| {
        let options = GpuOptions { path: Some(Path::Fused), max_chunk, ..Default::default() };
        let mut gpu = GpuTrainer::with_options(gpu(), &params, &data, 0.7, options).unwrap();
        assert_eq!(gpu.chunks(), max_chunk.map_or(1, |c| 10_007usize.div_ceil(c)));
        let mut losses = vec![f32::NAN; 20];
        gpu.run_epochs(&mut losses).unwrap();
        (losses, flat(&gpu.params().unwrap()))
    };
    let (whole_losses, whole) = run(None);
    for chunk in [256, 1000, 4099] {
        let (losses, weights) = run(Some(chunk));
        assert_close(&format!("chunks of {chunk}: losses"), &losses, &whole_losses, 1e-6);
        assert_close(&format!("chunks of {chunk}: weights"), &weights, &whole, 1e-6);
    }
}

/// Long train_tiny dispatches (what the defaults ask for) follow the CPU: a software adapter
/// that cuts long shader loops short must not cut epochs.
#[test]
fn long_tiny_dispatches_match_cpu() {
    for (h, n) in [(2, 4), (2, 33), (2, 64), (16, 64), (2, 256)] {
        let params = Params::init(h, 11);
        let data = Dataset::for_batch(n, 0.1, 11).unwrap();
        let mut cpu = CpuTrainer::new(params.clone(), data.clone(), 0.5);
        let mut gpu = GpuTrainer::with_path(gpu(), &params, &data, 0.5, Path::Tiny, 20_000).unwrap();
        let (mut want, mut got) = (vec![0.0; 3000], vec![f32::NAN; 3000]);
        cpu.run_epochs(&mut want).unwrap();
        gpu.run_epochs(&mut got).unwrap();
        assert_close(&format!("H={h} N={n}: 3000 epochs' losses"), &got, &want, 1e-4);
        assert_close(
            &format!("H={h} N={n}: weights"),
            &flat(&gpu.params().unwrap()),
            &flat(&cpu.params().unwrap()),
            1e-4,
        );
    }
}

/// The fused kernels against the step kernels directly, as well as each against the CPU.
#[test]
fn fused_matches_step() {
    let params = Params::init(3, 21);
    let data = Dataset::noisy_xor(5000, 0.2, 21).unwrap();
    let run = |path| {
        let mut gpu = GpuTrainer::with_path(gpu(), &params, &data, 0.8, path, 100).unwrap();
        let mut losses = vec![f32::NAN; 200];
        gpu.run_epochs(&mut losses).unwrap();
        (losses, flat(&gpu.params().unwrap()))
    };
    let (step_losses, step) = run(Path::Step);
    let (fused_losses, fused) = run(Path::Fused);
    assert_close("fused against step: losses", &fused_losses, &step_losses, 1e-5);
    assert_close("fused against step: weights", &fused, &step, 1e-5);
}

/// train_tiny over many epochs against the reference at every batch it takes on a GPU
/// (1..=64) and at the sizes around its workgroup's powers of two that a CPU adapter also
/// gives it, the largest included: every epoch's loss, the final weights, and the gradient
/// at the weights it reached, element by element. The default packs as many epochs into
/// one dispatch as the adapter allows, where a missing barrier between epochs would race;
/// seven a dispatch, at some sizes, puts block and dispatch boundaries mid-run.
#[test]
fn tiny_matches_cpu_over_many_epochs_at_every_batch() {
    use xorgpu::gpu::fused::tiny_workgroup;
    use xorgpu::gpu::trainer::DEFAULT_EPOCHS_PER_DISPATCH;
    let gpu = gpu();
    let h = 2;
    let largest = (1..=4096).rev().find(|&n| tiny_workgroup(&gpu, h, n).is_some()).expect("tiny takes something");
    let mut batches: Vec<usize> = (1..=64).collect();
    batches.extend([65, 127, 128, 129, 255, 256, 257, 511, 512, 513, largest].iter().filter(|&&n| n <= largest));
    batches.dedup();
    let epochs = 300;
    let mut rng = rng();
    for n in batches {
        let seed = rng.random();
        let params = Params::init(h, seed);
        let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
        let mut cpu = CpuTrainer::new(params.clone(), data.clone(), 0.5);
        let mut want = vec![0.0; epochs];
        cpu.run_epochs(&mut want).unwrap();
        let want_weights = flat(&cpu.params().unwrap());
        let short = [1, 4, 33, 64, largest].contains(&n);
        for per_dispatch in [DEFAULT_EPOCHS_PER_DISPATCH, 7].into_iter().take(if short { 2 } else { 1 }) {
            let what = format!("tiny, N={n}, {per_dispatch} epochs a dispatch (seed {seed})");
            let mut tiny = GpuTrainer::with_path(gpu.clone(), &params, &data, 0.5, Path::Tiny, per_dispatch).unwrap();
            let mut got = vec![f32::NAN; epochs];
            tiny.run_epochs(&mut got).unwrap();
            assert_close(&format!("{what}: {epochs} losses"), &got, &want, 2e-5);
            let reached = tiny.params().unwrap();
            assert_close(&format!("{what}: weights"), &flat(&reached), &want_weights, 2e-5);
            let reference = common::reference_gradients(&reached, &data);
            let grads = tiny.gradients().unwrap();
            common::assert_gradients(&what, h, &grads, &reference.grads, &reference.magnitudes);
        }
    }
}
