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
    (losses, t.mlp().unwrap().iter().collect())
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

/// Batches of up to eight samples train in registers (`xorgpu::cpu::tiny`, with fused
/// multiply-adds): held to the reference and to the general path at every width it takes,
/// and it takes exactly the batches and widths it says.
#[test]
fn the_tiny_path_matches_the_reference() {
    use xorgpu::cpu::tiny;
    let mut rng = rng();
    for h in 1..=tiny::MAX_H + 1 {
        for n in [1, 3, 4, 5, 8, 9] {
            let seed = rng.random();
            let params = Params::init(h, seed);
            let data = Dataset::for_batch(n, 0.2, seed).unwrap();
            let epochs = 300;
            let mut w = params.packed();
            let mut losses = vec![f32::NAN; epochs];
            let took = tiny::train(h, &mut w, &data, 0.8, &mut losses);
            assert_eq!(took, n <= tiny::MAX_N && h <= tiny::MAX_H, "H={h} N={n}");
            if !took {
                continue;
            }
            let what = format!("tiny path, H={h} N={n}, {epochs} epochs");
            let (want_losses, want) = run(&mut CpuTrainer::new(params.clone(), data.clone(), 0.8), epochs);
            assert_close(&format!("{what}: losses"), &losses, &want_losses, 1e-4);
            assert_close(&format!("{what}: weights"), &w, &want, 1e-4);
            let (general_losses, general) = run(&mut FastCpuTrainer::general(params, data, 0.8), epochs);
            assert_close(&format!("{what}: losses against the general path"), &losses, &general_losses, 1e-4);
            assert_close(&format!("{what}: weights against the general path"), &w, &general, 1e-4);
        }
    }
}

/// A rate that overflows the weights stops the tiny path at the reference's epoch.
#[test]
fn the_tiny_path_catches_divergence_at_its_epoch() {
    use xorgpu::train::train;
    let params =
        Params { hidden: 2, w1: vec![0.1, -0.1, 0.1, 0.1], b1: vec![0.0, 0.0], w2: vec![1e3, -1e3], b2: vec![0.0] };
    let data = Dataset::xor();
    let epoch = |t: &mut dyn Trainer| match train(t, 100, 10, |_, _| {}) {
        Err(xorgpu::Error::Diverged { epoch, .. }) => epoch,
        other => panic!("expected divergence, got {other:?}"),
    };
    let want = epoch(&mut CpuTrainer::new(params.clone(), data.clone(), 1e38));
    assert_eq!(epoch(&mut FastCpuTrainer::new(params, data, 1e38)), want);
}

/// Saturated sigmoids (z = ±1e4, ±100) and certain predictions: the fast paths stay finite,
/// the first loss is the reference's, and the tiny path follows the general one. (Past the
/// first epoch the reference parts from both on purpose: it drops a saturated sample's
/// gradient as PyTorch's guarded BCE gradient does, see the README.)
#[test]
fn saturated_units_stay_finite_on_the_fast_paths() {
    let params = Params {
        hidden: 2,
        w1: vec![1e4, -1e4, 100.0, -100.0],
        b1: vec![0.0, 0.0],
        w2: vec![50.0, -50.0],
        b2: vec![0.0],
    };
    for n in [4, 7, 1000] {
        let data = Dataset::for_batch(n, 0.1, 7).unwrap();
        let (want_losses, _) = run(&mut CpuTrainer::new(params.clone(), data.clone(), 0.1), 5);
        let (losses, got) = run(&mut FastCpuTrainer::new(params.clone(), data.clone(), 0.1), 5);
        assert!(losses.iter().chain(&got).all(|x| x.is_finite()), "N={n}: {losses:?} {got:?}");
        assert_close(&format!("N={n}: first loss"), &losses[..1], &want_losses[..1], 1e-5);
        let (general_losses, general) = run(&mut FastCpuTrainer::general(params.clone(), data, 0.1), 5);
        assert_close(&format!("N={n}: losses against the general path"), &losses, &general_losses, 1e-4);
        assert_close(&format!("N={n}: weights against the general path"), &got, &general, 1e-4);
    }
}
