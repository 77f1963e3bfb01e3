//! Helpers the integration tests share.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xorgpu::gpu::Gpu;
pub use xorgpu::selfcheck::rel_error;

/// Batch sizes chosen to land on and around every boundary the kernels have: a single
/// sample, the XOR table, one workgroup (64 is a quarter of one, 256·4 one reduction
/// chunk), and a batch that needs several reduction passes.
pub const SIZES_N: [usize; 8] = [1, 3, 4, 63, 64, 65, 1000, 100_003];
pub const SIZES_H: [usize; 4] = [1, 2, 3, 16];

/// The GPU, or a failure that says how to get one: a GPU test never passes by skipping.
/// One device per test executable, shared: drivers run out of devices (NVIDIA's Vulkan
/// driver found no adapter after some dozens opened in one process), and opening one per
/// case would test the driver's set-up more than the kernels.
pub fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
        match Gpu::new(None) {
            Ok(g) => g,
            Err(e) => panic!("GPU tests need an adapter and found none ({e}). On Linux `apt-get install mesa-vulkan-drivers` gives a software one."),
        }
    })
    .clone()
}

/// A fresh generator per test, seeded from the clock, so every run draws new inputs;
/// the seed is printed so a failure can be replayed with TEST_SEED.
pub fn rng() -> ChaCha8Rng {
    let seed = std::env::var("TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("TEST_SEED={seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

/// Fails with the first few pairs and the largest difference when `a` is not within
/// `tol` relative error of the reference `b`. A NaN anywhere fails (NaN ≤ tol is false).
pub fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f64) {
    let err = rel_error(a, b);
    if err.is_nan() || err > tol || a.iter().any(|x| !x.is_finite()) {
        let (worst, at) = a
            .iter()
            .zip(b)
            .enumerate()
            .map(|(i, (x, y))| ((x - y).abs(), i))
            .fold((0.0f32, 0), |m, (d, i)| if d > m.0 || d.is_nan() { (d, i) } else { m });
        let pairs: Vec<String> = a.iter().zip(b).take(4).map(|(x, y)| format!("{x} vs {y}")).collect();
        panic!(
            "{what}: relative error {err:e} over {tol:e}; first pairs [{}]; largest difference {worst} at {at}",
            pairs.join(", ")
        );
    }
}
