//! Population training: each network of a population against the single trainer.

use xorgpu::cpu::mlp::MlpCpuTrainer;
use xorgpu::data::Dataset;
use xorgpu::net::optim::{Optimizer, OptimizerKind};
use xorgpu::net::Activation;
use xorgpu::population::{Cell, Group, Setup, NONE};
use xorgpu::train::Trainer;

fn setup(activation: Activation, optimizer: OptimizerKind, epochs: u64) -> Setup {
    Setup { inputs: 2, activation, optimizer, momentum: 0.9, epochs, target_loss: 0.05, stop_at_success: false }
}

#[test]
fn cpu_population_matches_the_reference() {
    let data = Dataset::xor();
    let mut worst = 0.0f64;
    for (act, opt, h, epochs) in [
        (Activation::Sigmoid, OptimizerKind::Sgd, 2, 500),
        (Activation::Sigmoid, OptimizerKind::Sgd, 3, 2000),
        (Activation::Tanh, OptimizerKind::Momentum, 16, 300),
        (Activation::Relu, OptimizerKind::Sgd, 1, 300),
    ] {
        let s = setup(act, opt, epochs);
        let cells = vec![Cell { hidden: h, lr: 0.5, init_scale: 1.0 }, Cell { hidden: h, lr: 2.0, init_scale: 2.0 }];
        let members: Vec<(usize, u64)> = (0..37).map(|k| (k % 2, 100 + k as u64)).collect();
        let mut group = Group::new(&s, &cells, h, &members);
        xorgpu::cpu::population::train_population(&s, &data, &mut group, 0, epochs);
        for (k, &(c, seed)) in members.iter().enumerate() {
            let mut o = Optimizer::defaults(opt);
            o.lr = cells[c].lr;
            let mut t = MlpCpuTrainer::new(s.init(&cells[c], seed), data.clone(), o, None);
            let mut losses = vec![0.0; epochs as usize];
            t.run_epochs(&mut losses).unwrap();
            let want = t.mlp().unwrap().params;
            let got = group.mlp(&s, k).params;
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let err = (g - w).abs() as f64 / (w.abs() as f64).max(1.0);
                worst = worst.max(err);
                assert!(g.to_bits() == w.to_bits(), "{act:?} {opt:?} H={h} seed {seed} param {i}: {g} vs {w}");
            }
            let st = group.status[k];
            assert_eq!(st.diverged, NONE);
            let loss = t.loss().unwrap();
            assert!((st.loss - loss).abs() <= 1e-5 * loss.max(1e-3), "loss {} vs {loss}", st.loss);
        }
    }
    eprintln!("worst relative error {worst:e}");
}

#[test]
fn gpu_population_matches_the_cpu_population() {
    let gpu = xorgpu::gpu::Gpu::new(None).expect("a GPU adapter (llvmpipe on CI)");
    let data = Dataset::xor();
    for (act, opt, h, epochs, k) in [
        (Activation::Sigmoid, OptimizerKind::Sgd, 2, 300, 65),
        (Activation::Sigmoid, OptimizerKind::Sgd, 1, 1000, 63),
        (Activation::Tanh, OptimizerKind::Momentum, 16, 200, 100),
        (Activation::Relu, OptimizerKind::Sgd, 3, 300, 1),
    ] {
        let s = setup(act, opt, epochs);
        let top = if opt == OptimizerKind::Momentum { 0.3 } else { 2.0 };
        let cells = vec![Cell { hidden: h, lr: 0.1, init_scale: 1.0 }, Cell { hidden: h, lr: top, init_scale: 2.0 }];
        let members: Vec<(usize, u64)> = (0..k).map(|i| (i % 2, 7 + i as u64)).collect();
        let mut cpu = Group::new(&s, &cells, h, &members);
        xorgpu::cpu::population::train_population(&s, &data, &mut cpu, 0, epochs);
        let kernel = xorgpu::gpu::population::PopulationKernel::new(&gpu, &s, h).unwrap();
        let mut fresh = Group::new(&s, &cells, h, &members);
        kernel.train(&gpu, &s, &data, &mut fresh, |_| {}).unwrap();
        let mut worst = 0.0f64;
        for (i, (&g, &c)) in fresh.params.iter().zip(&cpu.params).enumerate() {
            let err = (g - c).abs() as f64 / (c.abs() as f64).max(1.0);
            worst = worst.max(err);
            assert!(
                err <= 1e-5,
                "{act:?} H={h} network {} param {}: {g} vs {c}",
                i / s.net(h).param_count(),
                i % s.net(h).param_count()
            );
        }
        for (a, b) in fresh.status.iter().zip(&cpu.status) {
            assert_eq!((a.success, a.diverged, a.held), (b.success, b.diverged, b.held));
        }
        eprintln!("{act:?} H={h}: worst {worst:e}");
    }
}
