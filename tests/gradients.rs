//! The gradient as each path computes it, element by element, against the f64 reference.
//!
//! Comparing weights after one update (`w − lr·g`) holds the gradient only to about
//! ulp(w)/lr and lets one wrong sum hide among the others; here every backend reports its
//! gradient before any update ([`Trainer::gradients`]: on the GPU a mode of the last pass
//! that records the sums instead of applying them), and every parameter is held to
//! `GRAD_RTOL` relative with a floor of `GRAD_FLOOR · Σₙ|termₙ|` (see `tests/common`).

mod common;

use common::{assert_gradients, gpu, gradient_errors, gradient_mismatch, reference_gradients, rng, Reference, SIZES_H};
use rand::Rng;
use xorgpu::cpu::fast::FastCpuTrainer;
use xorgpu::cpu::CpuTrainer;
use xorgpu::data::Dataset;
use xorgpu::gpu::trainer::{GpuOptions, Path};
use xorgpu::gpu::GpuTrainer;
use xorgpu::model::Params;
use xorgpu::train::Trainer;

/// Every backend and GPU path that can take the batch, by name; the fused path also with
/// one sample a thread, so that on a CPU adapter (1,024 a thread by default) a small batch
/// spreads over several workgroups.
fn trainers(params: &Params, data: &Dataset) -> Vec<(String, Box<dyn Trainer>)> {
    let (h, n) = (params.hidden, data.len());
    let mut all: Vec<(String, Box<dyn Trainer>)> = vec![
        ("cpu reference".into(), Box::new(CpuTrainer::new(params.clone(), data.clone(), 0.5))),
        ("fast cpu".into(), Box::new(FastCpuTrainer::new(params.clone(), data.clone(), 0.5))),
    ];
    let mut options = vec![
        ("step".to_string(), GpuOptions { path: Some(Path::Step), ..Default::default() }),
        ("fused".to_string(), GpuOptions { path: Some(Path::Fused), ..Default::default() }),
        (
            "fused, 1 sample a thread".to_string(),
            GpuOptions { path: Some(Path::Fused), samples_per_thread: Some(1), ..Default::default() },
        ),
    ];
    if n <= 64 && h <= 16 {
        options.push(("tiny".into(), GpuOptions { path: Some(Path::Tiny), ..Default::default() }));
    }
    for (name, o) in options {
        let trainer = GpuTrainer::with_options(gpu(), params, data, 0.5, o).expect("GPU trainer");
        all.push((format!("gpu {name}"), Box::new(trainer)));
    }
    all
}

#[test]
fn every_path_computes_every_gradient_element() {
    let mut rng = rng();
    let mut worst = (0.0f64, 0.0f64);
    for n in [1, 4, 63, 65, 1000, 4099, 100_003] {
        for h in SIZES_H {
            let seed = rng.random();
            let params = Params::init(h, seed);
            let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
            let Reference { grads: want, magnitudes, .. } = reference_gradients(&params, &data);
            for (name, mut trainer) in trainers(&params, &data) {
                let got = trainer.gradients().unwrap();
                let what = format!("{name}, H={h} N={n} (seed {seed})");
                assert_gradients(&what, h, &got, &want, &magnitudes);
                let e = gradient_errors(&got, &want, &magnitudes);
                worst = (worst.0.max(e.0), worst.1.max(e.1));
                // Reading the gradient changes nothing: the weights are those it started with.
                let after: Vec<f32> = trainer.mlp().unwrap().iter().collect();
                assert_eq!(after, params.iter().collect::<Vec<_>>(), "{what}: weights changed");
            }
        }
    }
    eprintln!("largest error: {:e} of |gradient|, {:e} of Σ|terms|", worst.0, worst.1);
}

/// After training the gradient is small and made of cancelling terms, where a floor set by
/// the terms' magnitudes matters: the paths still agree with the reference there.
#[test]
fn gradients_after_training_match() {
    for (h, n) in [(2, 4), (3, 1000), (16, 65)] {
        let params = Params::init(h, 3);
        let data = Dataset::for_batch(n, 0.2, 3).unwrap();
        let mut cpu = CpuTrainer::new(params, data.clone(), 1.0);
        cpu.run_epochs(&mut vec![0.0; 2000]).unwrap();
        let trained = cpu.params().unwrap();
        let Reference { grads: want, magnitudes, .. } = reference_gradients(&trained, &data);
        for (name, mut trainer) in trainers(&trained, &data) {
            let got = trainer.gradients().unwrap();
            assert_gradients(&format!("{name}, trained H={h} N={n}"), h, &got, &want, &magnitudes);
        }
    }
}

/// The check itself can fail: one gradient element off by a part in a thousand of its
/// value (far less than the 25% error of one sum a planted bug once gave) is caught.
#[test]
fn a_wrong_element_fails_the_check() {
    let params = Params::init(3, 4);
    let data = Dataset::noisy_xor(1000, 0.3, 4).unwrap();
    let Reference { grads: want, magnitudes, .. } = reference_gradients(&params, &data);
    let good: Vec<f32> = want.iter().map(|&g| g as f32).collect();
    assert_gradients("the reference itself", 3, &good, &want, &magnitudes);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] *= 1.0 + 1e-3;
        assert!(gradient_mismatch(3, &bad, &want, &magnitudes).is_some(), "element {i} off by 1e-3 relative passed");
        bad[i] = f32::NAN;
        assert!(gradient_mismatch(3, &bad, &want, &magnitudes).is_some(), "element {i} NaN passed");
    }
}
