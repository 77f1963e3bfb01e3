//! The library in a few lines: the four playground data sets, each with its own small net,
//! trained on the CPU (the fast trainer `--backend cpu` uses), scored on a test set, and
//! drawn side by side.
//!
//!     cargo run --release --example playground [-- OUT.png]
//!
//! (The same models as the README's commands; `assets/playground.png` is its picture.)

use xorgpu::cpu::fast_mlp::FastMlpTrainer;
use xorgpu::cpu::mlp;
use xorgpu::data::playground::DataSet;
use xorgpu::data::{features, Dataset};
use xorgpu::experiments::pictures::boundary_gallery;
use xorgpu::net::file::Model;
use xorgpu::net::optim::{Optimizer, OptimizerKind};
use xorgpu::net::{Activation, Net};
use xorgpu::train::train;

fn main() -> Result<(), xorgpu::Error> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "playground.png".into());
    let seed = 2;
    // (data set, training samples, widths, hidden activation, epochs), all trained by Adam.
    let runs = [
        (DataSet::Quadrants, 500, vec![2, 8, 1], Activation::Tanh, 1000),
        (DataSet::Circle, 1000, vec![2, 8, 1], Activation::Relu, 1500),
        (DataSet::Gauss, 500, vec![2, 1], Activation::Sigmoid, 300),
        (DataSet::Spiral, 500, vec![2, 16, 16, 1], Activation::Tanh, 2000),
    ];
    let mut panels: Vec<(String, Model, Dataset)> = Vec::new();
    for (set, batch, widths, activation, epochs) in runs {
        let net = Net::new(widths, activation).map_err(xorgpu::Error::Input)?;
        // Training data on stream 1 of the seed, test data on stream 2, noise ν = 0.1.
        let data = set.generate(batch, 0.1, seed, 1)?;
        let test = set.generate(1000, 0.1, seed, 2)?;
        let opt = Optimizer::defaults(OptimizerKind::Adam);
        let mut trainer = FastMlpTrainer::new(net.init(seed), data.clone(), opt, None);
        let outcome = train(&mut trainer, epochs, epochs, |_, _| {})?;
        let p = mlp::predict(&outcome.params, &test.xt);
        let right = p.iter().zip(&test.t).filter(|(p, t)| (**p >= 0.5) == (**t >= 0.5)).count();
        let accuracy = 100.0 * right as f64 / test.len() as f64;
        println!("{:<9} {:<28} test accuracy {accuracy:.1}%", set.name(), outcome.params.net.describe());
        let model = Model {
            mlp: outcome.params,
            features: Some(features::RAW.to_vec()),
            domain: set.domain(),
            optimizer: Some(opt),
            state: outcome.state,
            curve: Vec::new(),
        };
        panels.push((format!("{}: {} ({accuracy:.1}%)", set.name(), model.mlp.net.describe()), model, data));
    }
    let refs: Vec<(String, &Model, &Dataset)> = panels.iter().map(|(t, m, d)| (t.clone(), m, d)).collect();
    boundary_gallery(std::path::Path::new(&out), &refs)?;
    println!("wrote {out}");
    Ok(())
}
