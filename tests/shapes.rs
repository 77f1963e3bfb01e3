//! Every GPU path against the CPU at the sizes where its shape changes: the fused epoch over
//! one workgroup, several, and more than 256 partial sums; its cap on workgroups; several
//! chunks at the adapter's real binding limit; a step dispatch that needs the second
//! dimension. Each compares the gradient element by element with the f64 reference, the
//! loss, and one training epoch's weights.

mod common;

use common::{assert_close, assert_gradients, gpu, reference_gradients};
use rand::Rng;
use xorgpu::data::Dataset;
use xorgpu::gpu::binding_samples;
use xorgpu::gpu::fused::{groups_for, samples_per_thread, MAX_GROUPS};
use xorgpu::gpu::kernels::{grid, MAX_GROUPS_PER_DIM, WG};
use xorgpu::gpu::trainer::{GpuOptions, Path};
use xorgpu::gpu::GpuTrainer;
use xorgpu::model::Params;
use xorgpu::train::Trainer;

const LR: f32 = 0.5;

/// The GPU run with `options` against the f64 reference on a fresh batch of `n`: the
/// gradient element by element and the loss before any update, then one epoch's loss and
/// weights (the reference's weights after its own update). Returns the trainer for the
/// caller's own checks of its shape.
fn check(h: usize, n: usize, options: GpuOptions, what: &str) -> GpuTrainer {
    let seed: u64 = common::rng().random();
    let params = Params::init(h, seed);
    let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
    let reference = reference_gradients(&params, &data);
    let mut trainer = GpuTrainer::with_options(gpu(), &params, &data, LR, options).expect("GPU trainer");
    let what = format!("{what}, H={h} N={n} (seed {seed})");
    let grads = trainer.gradients().unwrap();
    assert_gradients(&what, h, &grads, &reference.grads, &reference.magnitudes);
    assert_close(&format!("{what}: loss"), &[trainer.loss().unwrap()], &[reference.loss as f32], 1e-5);
    let mut losses = [f32::NAN];
    trainer.run_epochs(&mut losses).unwrap();
    assert_close(&format!("{what}: the epoch's loss"), &losses, &[reference.loss as f32], 1e-5);
    let want: Vec<f32> = params.iter().zip(&reference.grads).map(|(w, &g)| (w as f64 - LR as f64 * g) as f32).collect();
    let got: Vec<f32> = trainer.params().unwrap().iter().collect();
    assert_close(&format!("{what}: weights after one epoch"), &got, &want, 1e-6);
    trainer
}

fn fused(samples_per_thread: Option<usize>) -> GpuOptions {
    GpuOptions { path: Some(Path::Fused), samples_per_thread, ..Default::default() }
}

/// One sample a thread puts 256 samples in a workgroup: one workgroup, several, and more
/// than 256 partial sums per value (apply_update's workgroup then adds more than one each).
#[test]
fn fused_epoch_over_one_several_and_many_workgroups() {
    for (h, n, groups) in [(2, 200, 1), (3, 256, 1), (2, 257, 2), (3, 2000, 8), (2, 70_001, 274), (16, 70_001, 274)] {
        let trainer = check(h, n, fused(Some(1)), "fused, 1 sample a thread");
        assert_eq!(trainer.partial_sums(), groups, "N={n}: workgroups");
    }
}

/// The adapter's own setting (1,024 samples a thread on CPU adapters, 64 on GPUs), over
/// one workgroup and several.
#[test]
fn fused_epoch_at_the_default_setting() {
    let per_thread = samples_per_thread(&gpu());
    let one = WG as usize * per_thread;
    for n in [one - 1, one + 1, 3 * one + 17] {
        let trainer = check(2, n, fused(None), "fused, default samples a thread");
        assert_eq!(trainer.partial_sums(), n.div_ceil(one), "N={n}: workgroups");
    }
}

/// Past MAX_GROUPS · WG · samples a thread, the workgroups stay at MAX_GROUPS and each
/// thread's grid-stride loop takes more samples: the cap holds where it is stated, and the
/// samples past it are still counted.
#[test]
fn fused_workgroup_cap_holds() {
    let at_cap = MAX_GROUPS * WG as usize;
    assert_eq!(groups_for(at_cap, 1), MAX_GROUPS);
    assert_eq!(groups_for(at_cap + 1, 1), MAX_GROUPS);
    assert_eq!(groups_for(at_cap - WG as usize, 1), MAX_GROUPS - 1);
    let trainer = check(2, at_cap + 12_345, fused(Some(1)), "fused past the workgroup cap");
    assert_eq!(trainer.partial_sums(), MAX_GROUPS);
}

/// The fused path binds a batch larger than one storage binding in chunks, at the limit the
/// adapter reports (2^24 samples of Xᵀ on llvmpipe's 128 MiB): one chunk just under it, two
/// just over, with the real arithmetic rather than a forced small chunk.
#[test]
fn chunks_at_the_real_binding_limit() {
    let limit = binding_samples(&gpu(), 2);
    for (n, chunks) in [(limit - 1, 1), (limit, 1), (limit + 1, 2)] {
        let trainer = check(2, n, fused(None), "fused at the binding limit");
        assert_eq!(trainer.chunks(), chunks, "N={n}: chunks");
    }
}

/// A step kernel over H × N elements needs more than 65,535 workgroups in x past
/// 65,535 · 256 elements, and spreads over y: the whole step epoch there.
#[test]
fn step_dispatch_past_one_dimension() {
    let (h, n): (usize, usize) = (3, 6_000_000);
    let workgroups = (h * n).div_ceil(WG as usize) as u32;
    assert!(workgroups > MAX_GROUPS_PER_DIM);
    assert_eq!(grid(workgroups), [MAX_GROUPS_PER_DIM, 2], "the dispatch uses y");
    let step = GpuOptions { path: Some(Path::Step), ..Default::default() };
    check(h, n, step, "step, a dispatch over x and y");
}

/// The largest batch each path states is taken, and one more refused, before anything is
/// allocated.
#[test]
fn each_paths_stated_largest_batch_is_its_limit() {
    use xorgpu::gpu::trainer::{check_fits, max_batch};
    let gpu = gpu();
    for path in [Path::Step, Path::Tiny, Path::Fused] {
        let largest = max_batch(&gpu, path, 2);
        assert!(check_fits(&gpu, path, 2, largest).is_ok(), "{path:?}: {largest} is taken");
        assert!(check_fits(&gpu, path, 2, largest + 1).is_err(), "{path:?}: {} is refused", largest + 1);
    }
}

/// Where train_tiny's workgroup memory would not hold a batch (H = 64 and 64 samples need
/// 34.8 KB, over the 32 KB many adapters give), the fastest path is another, and it runs.
#[test]
fn the_fastest_path_fits_the_workgroup_memory() {
    use xorgpu::gpu::fused::tiny_workgroup;
    let gpu = gpu();
    let limit = gpu.device.limits().max_compute_workgroup_storage_size as usize;
    for (h, n) in [(16usize, 64usize), (64, 64), (64, 8)] {
        let wg = n.next_power_of_two().max(8);
        let needs = ((2 * h + 4) * wg + 4 * h + 1) * 4;
        assert_eq!(tiny_workgroup(&gpu, h, n).is_some(), needs <= limit, "H={h} N={n}: {needs} bytes of {limit}");
        check(h, n, GpuOptions::default(), "the fastest path");
    }
}

/// A submission carries many epochs (few submits, the design's rule), but never more than
/// 2^24 sample-epochs, so that no submission runs near an OS watchdog's seconds.
#[test]
fn submissions_carry_many_epochs_but_bounded_work() {
    use xorgpu::gpu::trainer::{MAX_EPOCHS_PER_SUBMIT, SAMPLE_EPOCHS_PER_SUBMIT};
    let params = Params::init(2, 1);
    for (n, want) in [(1000, MAX_EPOCHS_PER_SUBMIT), (1 << 20, SAMPLE_EPOCHS_PER_SUBMIT >> 20), (1 << 24, 1)] {
        let data = Dataset::noisy_xor(n, 0.1, 1).unwrap();
        let trainer = GpuTrainer::with_options(gpu(), &params, &data, 0.5, fused(None)).unwrap();
        assert_eq!(trainer.epochs_per_submit(), want, "N={n}");
    }
    let tiny = GpuTrainer::with_path(gpu(), &params, &Dataset::xor(), 0.5, Path::Tiny, 5000).unwrap();
    assert_eq!(tiny.epochs_per_submit(), 5000, "train_tiny: the epochs per dispatch asked for");
}
