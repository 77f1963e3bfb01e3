//! The copy-bandwidth yardstick times real copies: what it copies arrives, and the rate it
//! reports is a finite, positive number of bytes per second.

mod common;

use common::gpu;
use rand::Rng;
use xorgpu::gpu::bandwidth::{copy_bandwidth, timed_copies};

#[test]
fn timed_copies_copy_the_whole_buffer() {
    let gpu = gpu();
    let mut rng = common::rng();
    // An awkward length (a multiple of 4 bytes, as copies need), fresh values each run.
    let len = 250_001 + rng.random_range(0..1000);
    let source: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let src = gpu.storage_from("source", &source);
    let dst = gpu.storage_from("destination", &vec![f32::NAN; len]);
    let seconds = timed_copies(&gpu, &src, &dst, (len * 4) as u64, 3).expect("copies run");
    assert!(seconds > 0.0 && seconds.is_finite(), "{seconds}");
    let mut out = vec![f32::NAN; len];
    gpu.read(&dst, 0, &gpu.staging(len), &mut out).expect("read back");
    let wrong = out.iter().zip(&source).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(wrong, None, "the copy differs from its source");
}

#[test]
fn copy_bandwidth_is_a_rate() {
    let gpu = gpu();
    let b = copy_bandwidth(&gpu).expect("measured");
    assert!(b.buffer_bytes >= 1 << 20, "{}", b.buffer_bytes);
    // Between a megabyte and a hundred terabytes a second: anything else is a unit slip.
    assert!(b.bytes_per_s > 1e6 && b.bytes_per_s < 1e14, "{}", b.bytes_per_s);
}
