//! Against PyTorch: loss and gradients at fixed weights, and weights after training, as
//! written by `tests/golden/make_golden.py` (float64 autograd). Needs no Python to run.

mod common;

use common::{assert_close, assert_gradients, gpu, reference_gradients};
use serde::Deserialize;
use xorgpu::cpu::fast::FastCpuTrainer;
use xorgpu::cpu::{self, CpuTrainer};
use xorgpu::data::Dataset;
use xorgpu::gpu::fused::tiny_workgroup;
use xorgpu::gpu::trainer::Path;
use xorgpu::gpu::GpuTrainer;
use xorgpu::model::Params;
use xorgpu::train::{train, Trainer};

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    weights: serde_json::Value,
    /// The samples, or where there are many, the sequence that makes them.
    #[serde(default)]
    x: Vec<[f32; 2]>,
    #[serde(default)]
    t: Vec<f32>,
    data: Option<Sequence>,
    lr: f32,
    loss: f64,
    grads: serde_json::Value,
    epochs: u64,
    trained: serde_json::Value,
    trained_loss: f64,
}

fn params(v: &serde_json::Value) -> Params {
    Params::from_json(&v.to_string()).expect("golden weights parse")
}

fn cases() -> Vec<Case> {
    let golden: Golden = serde_json::from_str(include_str!("golden/golden.json")).expect("golden file parses");
    assert!(!golden.cases.is_empty());
    golden.cases
}

#[derive(Deserialize)]
struct Sequence {
    /// `r2: n`: the first n points of the R2 sequence, see [`r2_points`].
    r2: usize,
}

/// The R2 low-discrepancy sequence in the unit square (steps 1/φ₂ and 1/φ₂², φ₂ the plastic
/// number), labelled by XOR of the halves: computed in f64 as `make_golden.py` computes it
/// (0.5 + i·a, less its floor), then rounded to f32, so both hold the same numbers.
fn r2_points(n: usize) -> Vec<[f32; 3]> {
    const PHI2: f64 = 1.324_717_957_244_746;
    let steps = [1.0 / PHI2, 1.0 / (PHI2 * PHI2)];
    (0..n)
        .map(|i| {
            let [x1, x2] = steps.map(|a| {
                let v = 0.5 + i as f64 * a;
                (v - v.floor()) as f32
            });
            [x1, x2, ((x1 > 0.5) != (x2 > 0.5)) as u8 as f32]
        })
        .collect()
}

fn data(case: &Case) -> Dataset {
    let rows: Vec<[f32; 3]> = match &case.data {
        Some(sequence) => r2_points(sequence.r2),
        None => case.x.iter().zip(&case.t).map(|(x, &t)| [x[0], x[1], t]).collect(),
    };
    assert!(!rows.is_empty(), "{}: no samples", case.name);
    Dataset::from_rows(&rows)
}

/// In f64 the reference must agree with PyTorch's float64 autograd to rounding.
#[test]
fn cpu_loss_and_gradients_match_pytorch_in_f64() {
    for case in cases() {
        let p = params(&case.weights).to_f64();
        let d = data(&case);
        let (xt, t): (Vec<f64>, Vec<f64>) =
            (d.xt.iter().map(|&v| v as f64).collect(), d.t.iter().map(|&v| v as f64).collect());
        let f = cpu::forward(&p, &xt);
        let loss = cpu::bce_loss(&f.s2, &t);
        assert!((loss - case.loss).abs() <= 1e-12 * case.loss.abs(), "{}: loss {loss} vs {}", case.name, case.loss);
        let grads: Vec<f64> = cpu::backward(&p, &xt, &t, &f).iter().collect();
        let want: Vec<f64> = params(&case.grads).to_f64().iter().collect();
        // The golden gradients went through f32 in `params`: compare at f32 precision.
        for (g, w) in grads.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-7 * w.abs() + 1e-9, "{}: gradient {g} vs {w}", case.name);
        }
    }
}

/// Both backends in f32, trained as PyTorch trained, end at PyTorch's weights.
#[test]
fn both_backends_train_to_pytorchs_weights() {
    for case in cases() {
        let start = params(&case.weights);
        let want: Vec<f32> = params(&case.trained).iter().collect();
        // The reference, and the fast backend `--backend cpu` trains with.
        let mut trainers: Vec<(String, Box<dyn Trainer>)> = vec![
            ("cpu reference".into(), Box::new(CpuTrainer::new(start.clone(), data(&case), case.lr))),
            ("fast cpu".into(), Box::new(FastCpuTrainer::new(start.clone(), data(&case), case.lr))),
        ];
        let d = data(&case);
        for path in [Path::Step, Path::Tiny, Path::Fused] {
            if path == Path::Tiny && tiny_workgroup(&gpu(), start.hidden, d.len()).is_none() {
                continue; // more samples than one workgroup holds
            }
            let on_gpu = GpuTrainer::with_path(gpu(), &start, &d, case.lr, path, 100).unwrap();
            if case.data.is_some() && path == Path::Fused {
                assert!(on_gpu.partial_sums() > 1, "{}: the fused epoch spans several workgroups", case.name);
            }
            trainers.push((format!("gpu, {path:?} kernels"), Box::new(on_gpu)));
        }
        // PyTorch's gradient at the starting weights, element by element, as each computes it
        // (the floor from the terms' magnitudes, see tests/common).
        let want_grads: Vec<f64> = params(&case.grads).iter().map(|g| g as f64).collect();
        let magnitudes = reference_gradients(&start, &d).magnitudes;
        for (backend, trainer) in trainers.iter_mut() {
            let got = trainer.gradients().unwrap();
            let what = format!("{} on the {backend}: gradient against PyTorch's", case.name);
            assert_gradients(&what, start.hidden, &got, &want_grads, &magnitudes);
        }
        for (backend, mut trainer) in trainers {
            let trainer = trainer.as_mut();
            let out = train(trainer, case.epochs, case.epochs, |_, _| {}).unwrap();
            let got: Vec<f32> = out.params.iter().collect();
            assert_close(
                &format!("{} on the {backend}: weights after {} epochs", case.name, case.epochs),
                &got,
                &want,
                1e-4,
            );
            assert_close(
                &format!("{} on the {backend}: final loss", case.name),
                &[out.final_loss],
                &[case.trained_loss as f32],
                1e-4,
            );
        }
    }
}
