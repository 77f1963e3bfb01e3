//! The fast CPU backend against the plain reference, and its independence from the
//! number of threads.

mod common;

use common::{assert_close, rng};
use rand::Rng;
use xorgpu::cpu::fast::FastCpuTrainer;
use xorgpu::cpu::CpuTrainer;
use xorgpu::data::Dataset;
use xorgpu::model::Params;
use xorgpu::train::Trainer;

fn run(t: &mut dyn Trainer, epochs: usize) -> (Vec<f32>, Vec<f32>) {
    let mut losses = vec![f32::NAN; epochs];
    t.run_epochs(&mut losses).unwrap();
    (losses, t.params().unwrap().iter().collect())
}

#[test]
fn fast_matches_the_reference() {
    let mut rng = rng();
    // Sizes around the 8-sample lanes and the 4096-sample chunks.
    for (h, n, epochs, tol) in [
        (1, 1, 1, 1e-5),
        (2, 4, 1, 1e-5),
        (3, 9, 1, 1e-5),
        (16, 4097, 1, 1e-5),
        (2, 100_003, 1, 1e-5),
        (2, 4, 1000, 1e-4),
        (3, 1000, 300, 1e-4),
    ] {
        let seed = rng.random();
        let params = Params::init(h, seed);
        let data = Dataset::for_batch(n, 0.2, seed).unwrap();
        let (want_losses, want) = run(&mut CpuTrainer::new(params.clone(), data.clone(), 0.8), epochs);
        // The lane width this CPU picks, and 8-sample lanes as on a CPU without AVX-512.
        for (lanes, mut fast) in [
            ("native", FastCpuTrainer::new(params.clone(), data.clone(), 0.8)),
            ("8", FastCpuTrainer::narrow(params.clone(), data.clone(), 0.8)),
        ] {
            let (losses, got) = run(&mut fast, epochs);
            let what = format!("fast cpu ({lanes} lanes), H={h} N={n}, {epochs} epochs");
            assert_close(&format!("{what}: losses"), &losses, &want_losses, tol);
            assert_close(&format!("{what}: weights"), &got, &want, tol);
        }
    }
}

#[test]
fn thread_count_does_not_change_a_bit() {
    let params = Params::init(2, 4);
    let data = Dataset::noisy_xor(50_001, 0.2, 4).unwrap();
    let with_threads = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run(&mut FastCpuTrainer::new(params.clone(), data.clone(), 0.5), 5))
    };
    assert_eq!(with_threads(1), with_threads(2));
    assert_eq!(with_threads(1), with_threads(3));
}
