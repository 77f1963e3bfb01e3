//! The copy-bandwidth yardstick times real copies: what it copies arrives, and the rate it
//! reports is a finite, positive number of bytes per second.

mod common;

use common::gpu;
use rand::Rng;
use xorgpu::gpu::bandwidth::{copy_bandwidth, timed_copies, ShaderCopy};
use xorgpu::gpu::Gpu;

/// Copies fresh values over a NaN-poisoned buffer with `copy` and checks that every bit
/// arrived. `words` floats: a multiple of 4 for the shader's 16-byte words.
fn check_copy(gpu: &Gpu, words: usize, copy: impl Fn(&wgpu::Buffer, &wgpu::Buffer, u64) -> f64) {
    let mut rng = common::rng();
    let source: Vec<f32> = (0..words).map(|_| rng.random_range(-1.0..1.0)).collect();
    let src = gpu.storage_from("source", &source);
    let dst = gpu.storage_from("destination", &vec![f32::NAN; words]);
    let seconds = copy(&src, &dst, (words * 4) as u64);
    assert!(seconds > 0.0 && seconds.is_finite(), "{seconds}");
    let mut out = vec![f32::NAN; words];
    gpu.read(&dst, 0, &gpu.staging(words), &mut out).expect("read back");
    let wrong = out.iter().zip(&source).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(wrong, None, "the copy differs from its source");
}

#[test]
fn timed_copies_copy_the_whole_buffer() {
    let gpu = gpu();
    // An awkward length (whole 4-byte words, as copies need), fresh each run.
    let words = 250_001 + common::rng().random_range(0..1000);
    check_copy(&gpu, words, |src, dst, bytes| timed_copies(&gpu, src, dst, bytes, 3).expect("copies run"));
}

#[test]
fn the_shader_copy_copies_the_whole_buffer() {
    let gpu = gpu();
    // An odd number of 16-byte words; each thread copies up to eight, so the grid-stride
    // loop runs several rounds and the last workgroup stops partway.
    let words = 4 * (250_001 + common::rng().random_range(0..1000));
    check_copy(&gpu, words, |src, dst, bytes| {
        ShaderCopy::new(&gpu, src, dst, bytes).and_then(|c| c.timed(&gpu, 3)).expect("copies run")
    });
}

#[test]
fn copy_bandwidth_is_a_rate() {
    let gpu = gpu();
    let b = copy_bandwidth(&gpu).expect("measured");
    assert!(b.buffer_bytes >= 1 << 20, "{}", b.buffer_bytes);
    // Between a megabyte and a hundred terabytes a second: anything else is a unit slip.
    for rate in [b.buffer_copy, b.shader_copy] {
        assert!(rate > 1e6 && rate < 1e14, "{rate}");
    }
    assert_eq!(b.bytes_per_s(), b.buffer_copy.max(b.shader_copy));
}

/// The special-function yardstick computes what its CPU twin does (four converging sigmoid
/// chains a thread, at an awkward thread count over NaN), and its rate is a rate.
#[test]
fn the_special_function_yardstick_computes_its_chains() {
    use xorgpu::gpu::ceiling::{special_ops_rate, special_ops_twin, SpecialOps};
    let gpu = gpu();
    let threads = 1000 + common::rng().random_range(0..100);
    let seeds: Vec<f32> = (0..threads).map(|i| i as f32 / threads as f32 * 6.0 - 3.0).collect();
    let (src, out) = (gpu.storage_from("seeds", &seeds), gpu.storage_from("out", &vec![f32::NAN; threads]));
    let kernel = SpecialOps::new(&gpu).unwrap();
    for rounds in [1, 37] {
        let seconds = kernel.run(&gpu, "special_ops", &src, &out, threads, rounds).unwrap();
        assert!(seconds > 0.0 && seconds.is_finite());
        let mut got = vec![f32::NAN; threads];
        gpu.read(&out, 0, &gpu.staging(threads), &mut got).unwrap();
        for (i, (&g, &s)) in got.iter().zip(&seeds).enumerate() {
            let want = special_ops_twin(s, rounds);
            assert!((g - want).abs() <= 1e-5 * want.abs(), "thread {i}, {rounds} rounds: {g} vs {want}");
        }
    }
    let rate = special_ops_rate(&gpu).unwrap();
    assert!(rate.is_finite() && rate > 1e6, "{rate}");
}

/// The multiply-add yardstick computes what its CPU twin does (eight converging chains a
/// thread, at an awkward thread count over NaN), and its rate is a rate.
#[test]
fn the_multiply_add_yardstick_computes_its_chains() {
    use xorgpu::gpu::ceiling::{fma_ops_twin, fma_rate, SpecialOps};
    let gpu = gpu();
    let threads = 1000 + common::rng().random_range(0..100);
    let seeds: Vec<f32> = (0..threads).map(|i| i as f32 / threads as f32 * 6.0 - 3.0).collect();
    let (src, out) = (gpu.storage_from("seeds", &seeds), gpu.storage_from("out", &vec![f32::NAN; threads]));
    let kernel = SpecialOps::new(&gpu).unwrap();
    for rounds in [1, 37] {
        let seconds = kernel.run(&gpu, "fma_ops", &src, &out, threads, rounds).unwrap();
        assert!(seconds > 0.0 && seconds.is_finite());
        let mut got = vec![f32::NAN; threads];
        gpu.read(&out, 0, &gpu.staging(threads), &mut got).unwrap();
        for (i, (&g, &s)) in got.iter().zip(&seeds).enumerate() {
            let want = fma_ops_twin(s, rounds);
            assert!((g - want).abs() <= 1e-5 * want.abs().max(1.0), "thread {i}, {rounds} rounds: {g} vs {want}");
        }
    }
    let rate = fma_rate(&gpu).unwrap();
    assert!(rate.is_finite() && rate > 1e6, "{rate}");
}
