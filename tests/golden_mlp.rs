//! Any MLP against PyTorch: loss and gradients at fixed weights, and weights after 300
//! epochs of each optimizer, as `tests/golden/make_golden_mlp.py` wrote them (float64
//! autograd and torch.optim): deeper nets, tanh and ReLU, momentum, Adam, L2 and input
//! features, on every backend and path that trains them. Needs no Python to run.

mod common;

use common::{assert_close, gpu, mlp_reference, GRAD_FLOOR};
use serde::Deserialize;
use xorgpu::cpu::fast::FastCpuTrainer;
use xorgpu::cpu::fast_mlp::FastMlpTrainer;
use xorgpu::cpu::mlp::{self as reference, MlpCpuTrainer};
use xorgpu::data::Dataset;
use xorgpu::gpu::fused_mlp::PartialSums;
use xorgpu::gpu::mlp::{MlpGpuTrainer, MlpPath};
use xorgpu::gpu::trainer::Path;
use xorgpu::gpu::GpuTrainer;
use xorgpu::net::file::Model;
use xorgpu::net::optim::OptState;
use xorgpu::train::{train, Trainer};

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    raw: Vec<[f32; 2]>,
    t: Vec<f32>,
    model: serde_json::Value,
    loss: f64,
    grads: Vec<Layer>,
    epochs: u64,
    trained: Vec<Layer>,
    trained_loss: f64,
}

#[derive(Deserialize)]
struct Layer {
    w: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

fn cases() -> Vec<Case> {
    let golden: Golden = serde_json::from_str(include_str!("golden/golden_mlp.json")).expect("golden file parses");
    assert!(golden.cases.len() >= 4);
    golden.cases
}

/// Layers packed as the parameters are: each W row-major, then its B.
fn packed(layers: &[Layer]) -> Vec<f64> {
    layers.iter().flat_map(|l| l.w.iter().flatten().chain(l.b.iter().flatten()).copied()).collect()
}

/// The model, and its inputs computed from the raw points as training computes them.
fn setup(case: &Case) -> (Model, Dataset) {
    let model = Model::from_json(&case.model.to_string()).expect("golden model parses");
    let rows: Vec<[f32; 3]> = case.raw.iter().zip(&case.t).map(|(x, &t)| [x[0], x[1], t]).collect();
    let data = model.inputs_of(&Dataset::from_rows(&rows)).unwrap();
    (model, data)
}

/// In f64 the reference, with its optimizers, follows PyTorch to rounding: the loss and
/// gradient at the start and the weights after every epoch of the run.
#[test]
fn the_reference_in_f64_follows_pytorch() {
    for case in cases() {
        let (model, data) = setup(&case);
        let xt: Vec<f64> = data.xt.iter().map(|&v| v as f64).collect();
        let t: Vec<f64> = data.t.iter().map(|&v| v as f64).collect();
        let mut m = model.mlp.to_f64();
        let loss = reference::loss(&m, &xt, &t);
        assert!((loss - case.loss).abs() <= 1e-9 * case.loss, "{}: loss {loss} vs {}", case.name, case.loss);
        let grads = reference::backward(&m, &xt, &t, &reference::forward(&m, &xt));
        let scale = packed(&case.grads).iter().fold(0.0f64, |s, g| s.max(g.abs()));
        for (i, (g, w)) in grads.iter().zip(packed(&case.grads)).enumerate() {
            assert!(
                (g - w).abs() <= 1e-9 * scale,
                "{}: gradient {} = {g}, PyTorch {w}",
                case.name,
                m.net.param_name(i)
            );
        }
        let opt = model.optimizer.expect("the golden model names its optimizer");
        let mut state = OptState::<f64>::new(opt.kind, m.net.param_count());
        for _ in 0..case.epochs {
            reference::epoch(&mut m, &xt, &t, &opt, &mut state);
        }
        let want = packed(&case.trained);
        let scale = want.iter().fold(0.0f64, |s, w| s.max(w.abs()));
        for (i, (got, w)) in m.params.iter().zip(&want).enumerate() {
            assert!(
                (got - w).abs() <= 1e-9 * scale,
                "{}: after {} epochs {} = {got}, PyTorch {w}",
                case.name,
                case.epochs,
                m.net.param_name(i)
            );
        }
    }
}

/// Every backend and path in f32, trained as PyTorch trained, ends at PyTorch's weights;
/// its loss and gradient at the start match PyTorch's element by element.
#[test]
fn every_path_trains_to_pytorchs_weights() {
    for case in cases() {
        let (model, data) = setup(&case);
        let opt = model.optimizer.expect("the golden model names its optimizer");
        let mlp = model.mlp.clone();
        let mut trainers: Vec<(String, Box<dyn Trainer>)> = vec![
            ("cpu reference".into(), Box::new(MlpCpuTrainer::new(mlp.clone(), data.clone(), opt, None))),
            ("fast cpu, any net".into(), Box::new(FastMlpTrainer::new(mlp.clone(), data.clone(), opt, None))),
            ("gpu, step kernels".into(), Box::new(MlpGpuTrainer::new(gpu(), &mlp, &data, opt, None).unwrap())),
            (
                "gpu, tiled kernels".into(),
                Box::new(MlpGpuTrainer::with_path(gpu(), &mlp, &data, opt, None, MlpPath::Tiled).unwrap()),
            ),
        ];
        // The fused pair with each form of its sums the adapter has.
        let mut forms = vec![PartialSums::Direct, PartialSums::Tree];
        if gpu().has_subgroups() {
            forms.push(PartialSums::Subgroups);
        }
        for sums in forms {
            let t = MlpGpuTrainer::with_reduction(gpu(), &mlp, &data, opt, None, MlpPath::Fused, Some(sums)).unwrap();
            trainers.push((format!("gpu, fused, {}", sums.name()), Box::new(t)));
        }
        // The many-epochs kernel where the batch is small enough for it.
        if xorgpu::gpu::mlp::unfit(&gpu(), &mlp.net, data.len(), MlpPath::Tiny).is_none() {
            let t = MlpGpuTrainer::with_path(gpu(), &mlp, &data, opt, None, MlpPath::Tiny).unwrap();
            trainers.push(("gpu, many-epochs kernel".into(), Box::new(t)));
        }
        // The 2-H-1 sigmoid net by plain SGD has its own paths too.
        if let (Some(params), true) = (mlp.to_params(), opt.is_plain_sgd()) {
            trainers.push(("fast cpu".into(), Box::new(FastCpuTrainer::new(params.clone(), data.clone(), opt.lr))));
            for path in [Path::Step, Path::Tiny, Path::Fused] {
                let t = GpuTrainer::with_path(gpu(), &params, &data, opt.lr, path, 100).unwrap();
                trainers.push((format!("gpu, 2-H-1 {path:?} kernels"), Box::new(t)));
            }
        }
        assert!(trainers.len() >= 2);
        let r = mlp_reference(&mlp, &data);
        let want_grads = packed(&case.grads);
        for (backend, trainer) in trainers.iter_mut() {
            let what = format!("{} on the {backend}", case.name);
            let loss = trainer.loss().unwrap() as f64;
            assert!((loss - case.loss).abs() <= 1e-5 * case.loss, "{what}: loss {loss} vs PyTorch's {}", case.loss);
            let got = trainer.gradients().unwrap();
            for (i, ((&g, &w), &m)) in got.iter().zip(&want_grads).zip(&r.magnitudes).enumerate() {
                let allowed = 1e-4 * w.abs() + GRAD_FLOOR * m;
                assert!(
                    (g as f64 - w).abs() <= allowed,
                    "{what}: gradient {} = {g}, PyTorch {w} (allowed {allowed:e})",
                    mlp.net.param_name(i)
                );
            }
        }
        let want: Vec<f32> = packed(&case.trained).iter().map(|&w| w as f32).collect();
        for (backend, mut trainer) in trainers {
            let out = train(trainer.as_mut(), case.epochs, case.epochs, |_, _| {}).unwrap();
            let what = format!("{} on the {backend}", case.name);
            eprintln!("{what}: weights off PyTorch's by {:.2e}", common::rel_error(&out.params.params, &want));
            assert_close(&format!("{what}: weights after {} epochs", case.epochs), &out.params.params, &want, 1e-4);
            assert_close(&format!("{what}: final loss"), &[out.final_loss], &[case.trained_loss as f32], 1e-4);
        }
    }
}
