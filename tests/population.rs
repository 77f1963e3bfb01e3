//! Population training: each network of a population is the single trainer's network.
//! The CPU lanes against the reference bit for bit, the GPU kernel against the CPU lanes,
//! reruns, splits, thread counts, stopping, divergence, and the success rates' sanity.

mod common;

use xorgpu::cpu::mlp::MlpCpuTrainer;
use xorgpu::cpu::population::train_population;
use xorgpu::data::Dataset;
use xorgpu::gpu::population::PopulationKernel;
use xorgpu::net::optim::{Optimizer, OptimizerKind};
use xorgpu::net::Activation;
use xorgpu::population::{self, Cell, Grid, Group, Setup, Status, NONE};
use xorgpu::train::Trainer;

fn setup(activation: Activation, optimizer: OptimizerKind, epochs: u64) -> Setup {
    Setup {
        inputs: 2,
        activation,
        optimizer: Optimizer::defaults(optimizer),
        epochs,
        target_loss: 0.05,
        stop_at_success: false,
    }
}

/// Three cells of width `h`: rates and scales mixed (lower rates under momentum, whose
/// steps are about ten times the rate, and Adam, whose steps are about the rate).
fn cells(h: usize, opt: OptimizerKind) -> Vec<Cell> {
    let rates = match opt {
        OptimizerKind::Sgd => [0.1, 2.0, 0.5],
        OptimizerKind::Momentum => [0.1, 0.3, 0.5],
        OptimizerKind::Adam => [0.01, 0.1, 0.03],
    };
    [(rates[0], 1.0), (rates[1], 2.0), (rates[2], 0.5)]
        .map(|(lr, init_scale)| Cell { hidden: h, lr, init_scale })
        .to_vec()
}

fn members(k: usize, first_seed: u64) -> Vec<(usize, u64)> {
    (0..k).map(|i| (i % 3, first_seed + i as u64)).collect()
}

/// The single trainer's reference run of one network: its weights after `epochs` updates,
/// the loss of those weights, and for each epoch e = 0..=epochs whether the success test
/// held on the weights after e updates.
fn reference(s: &Setup, cell: &Cell, seed: u64, data: &Dataset, epochs: u64) -> (Vec<f32>, f32, Vec<bool>) {
    let opt = s.optimizer_for(cell);
    let mut t = MlpCpuTrainer::new(s.init(cell, seed), data.clone(), opt, None);
    let mut held = Vec::new();
    for e in 0..=epochs {
        let m = t.mlp().unwrap();
        let p = xorgpu::cpu::mlp::predict(&m, &data.xt);
        let right = p.iter().zip(&data.t).all(|(p, t)| (*p >= 0.5) == (*t >= 0.5));
        held.push(right && t.loss().unwrap() < s.target_loss);
        if e < epochs {
            t.run_epochs(&mut [0.0]).unwrap();
        }
    }
    (t.mlp().unwrap().params, t.loss().unwrap(), held)
}

/// Every network of a CPU population ends with the reference's weights and loss, bit for
/// bit, and its success epoch is the first at which the test held in the reference run:
/// each activation, both rules, widths 1, 2, 3, 16, awkward K (networks fill lane groups
/// partly), on the XOR table and on 37 noisy samples.
#[test]
fn cpu_lanes_are_the_reference_bit_for_bit() {
    let xor = Dataset::xor();
    let noisy = Dataset::noisy_xor(37, 0.4, 9).unwrap();
    // 1,000 samples with a target of 0.75: past e^(−700) the loss test takes the logs.
    let many = Dataset::noisy_xor(1000, 0.05, 3).unwrap();
    for (act, opt, h, k, epochs, data, target) in [
        (Activation::Sigmoid, OptimizerKind::Sgd, 2, 65, 600, &xor, 0.05),
        (Activation::Sigmoid, OptimizerKind::Sgd, 3, 63, 2000, &xor, 0.05),
        (Activation::Sigmoid, OptimizerKind::Momentum, 1, 1, 300, &xor, 0.05),
        (Activation::Tanh, OptimizerKind::Momentum, 16, 17, 300, &noisy, 0.05),
        (Activation::Relu, OptimizerKind::Sgd, 3, 33, 400, &noisy, 0.3),
        (Activation::Tanh, OptimizerKind::Sgd, 2, 9, 300, &xor, 0.05),
        (Activation::Sigmoid, OptimizerKind::Sgd, 3, 6, 400, &many, 0.75),
        (Activation::Sigmoid, OptimizerKind::Adam, 2, 40, 1500, &xor, 0.05),
        (Activation::Relu, OptimizerKind::Adam, 8, 17, 300, &noisy, 0.3),
    ] {
        let s = Setup { target_loss: target, ..setup(act, opt, epochs) };
        let cells = cells(h, opt);
        let members = members(k, 100);
        let mut group = Group::new(&s, &cells, h, &members);
        train_population(&s, data, &mut group, 0, epochs);
        let mut successes = 0;
        for (i, &(c, seed)) in members.iter().enumerate() {
            let what = format!("{act:?} {opt:?} H={h} seed {seed} lr {}", cells[c].lr);
            let (want, loss, held) = reference(&s, &cells[c], seed, data, epochs);
            let got = group.mlp(&s, i).params;
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{what}: parameter {j}: {g} vs {w}");
            }
            let st = group.status[i];
            assert_eq!(st.loss.to_bits(), loss.to_bits(), "{what}: loss {} vs {loss}", st.loss);
            assert_eq!(st.diverged, NONE, "{what}");
            let first = held.iter().position(|&h| h).map_or(NONE, |e| e as u32);
            assert_eq!(st.success, first, "{what}: first epoch the test held");
            assert_eq!(st.held == 1, held[epochs as usize], "{what}: the test on the final weights");
            successes += st.succeeded() as usize;
        }
        eprintln!("{act:?} {opt:?} H={h}: {successes} of {k} succeeded");
    }
}

/// The GPU kernel against the CPU lanes: weights to 1e-5 of the network's largest (or 1),
/// the same success and divergence epochs, at awkward K (1, 63, 65, 1000, 100,003: one
/// workgroup partly filled to many), widths 1, 2, 3, 16, each activation and rule, with
/// runs longer than one dispatch (llvmpipe's loop guard cuts blocks to tens of epochs at
/// H = 16). Where the test's loss falls within 1e-4 of the target, the two may disagree;
/// such networks are counted, and must be rare. Adam here takes one step (see
/// `adam_runs_end_alike_on_both_backends` for long runs).
#[test]
fn gpu_kernel_matches_the_cpu_lanes() {
    let gpu = common::gpu();
    let xor = Dataset::xor();
    let noisy = Dataset::noisy_xor(200, 0.3, 4).unwrap();
    for (act, opt, h, k, epochs, data) in [
        (Activation::Sigmoid, OptimizerKind::Sgd, 2, 65, 300, &xor),
        (Activation::Sigmoid, OptimizerKind::Sgd, 1, 63, 1000, &xor),
        (Activation::Sigmoid, OptimizerKind::Sgd, 3, 1000, 120, &xor),
        (Activation::Tanh, OptimizerKind::Momentum, 16, 100, 200, &xor),
        (Activation::Relu, OptimizerKind::Sgd, 3, 1, 300, &noisy),
        (Activation::Sigmoid, OptimizerKind::Momentum, 2, 100_003, 12, &xor),
        (Activation::Tanh, OptimizerKind::Adam, 3, 200, 1, &xor),
        (Activation::Sigmoid, OptimizerKind::Adam, 2, 65, 1, &noisy),
    ] {
        let s = setup(act, opt, epochs);
        let cells = cells(h, opt);
        let members = members(k, 7);
        let mut cpu = Group::new(&s, &cells, h, &members);
        let mut gpu_group = cpu.clone();
        gpu_group.status.iter_mut().for_each(|st| st.loss = f32::NAN);
        train_population(&s, data, &mut cpu, 0, epochs);
        PopulationKernel::new(&gpu, &s, h).unwrap().train(&gpu, &s, data, &mut gpu_group, |_| {}).unwrap();
        let p = s.net(h).param_count();
        let what = format!("{act:?} {opt:?} H={h} K={k}");
        let mut worst = 0.0f64;
        for (net, (gw, cw)) in gpu_group.params.chunks(p).zip(cpu.params.chunks(p)).enumerate() {
            // The exp of the two differs in the last bits; an error in one weight spreads to
            // all through the sums, so each is measured against the network's scale.
            let scale = cw.iter().fold(1.0f32, |m, w| m.max(w.abs())) as f64;
            for (i, (&g, &c)) in gw.iter().zip(cw).enumerate() {
                let err = (g - c).abs() as f64 / scale;
                worst = worst.max(err);
                assert!(err <= 1e-5, "{what}: network {net} parameter {i}: {g} vs {c}");
            }
        }
        let mut boundary = 0;
        for (i, (a, b)) in gpu_group.status.iter().zip(&cpu.status).enumerate() {
            // The loss moves with every weight's error times its gradient: 10× the weights'.
            let tol = 1e-4 * b.loss.max(1e-2);
            assert!((a.loss - b.loss).abs() <= tol, "{what}: network {i}: loss {} vs {}", a.loss, b.loss);
            assert_eq!(a.diverged, b.diverged, "{what}: network {i}");
            if (a.success, a.held) != (b.success, b.held) {
                assert!((b.loss - s.target_loss).abs() < 1e-4, "{what}: network {i}: {a:?} vs {b:?}");
                boundary += 1;
            }
        }
        assert!(boundary * 1000 <= k.max(1000), "{what}: {boundary} networks disagree at the boundary");
        eprintln!("{what}: worst {worst:.2e}, {boundary} at the boundary");
    }
}

/// Adam over many epochs: its step is lr·m̂/(√v̂ + ε), about ±lr wherever a gradient is
/// near 0 whatever its size, so a last-bit difference in such a gradient (the GPU's exp is
/// not the CPU's) becomes a difference of lr in a weight, and no weight-wise tolerance
/// holds for long. What must agree is where the networks end: the final loss of each within
/// 2% (or 1e-3), and success for all but one in a hundred, all differences printed.
#[test]
fn adam_runs_end_alike_on_both_backends() {
    let gpu = common::gpu();
    for (act, h, k, epochs) in [(Activation::Sigmoid, 2, 300, 2000), (Activation::Tanh, 3, 200, 500)] {
        let s = setup(act, OptimizerKind::Adam, epochs);
        let cells = cells(h, OptimizerKind::Adam);
        let members = members(k, 11);
        let mut cpu = Group::new(&s, &cells, h, &members);
        let mut on_gpu = cpu.clone();
        train_population(&s, &Dataset::xor(), &mut cpu, 0, epochs);
        PopulationKernel::new(&gpu, &s, h).unwrap().train(&gpu, &s, &Dataset::xor(), &mut on_gpu, |_| {}).unwrap();
        let mut flips = Vec::new();
        for (i, (a, b)) in on_gpu.status.iter().zip(&cpu.status).enumerate() {
            let tol = 0.02 * b.loss.max(0.05);
            assert!((a.loss - b.loss).abs() <= tol, "{act:?} H={h}: network {i}: loss {} vs {}", a.loss, b.loss);
            if a.succeeded() != b.succeeded() {
                flips.push(format!("network {i}: GPU {a:?}, CPU {b:?}"));
            }
        }
        let successes = cpu.status.iter().filter(|st| st.succeeded()).count();
        eprintln!("{act:?} Adam H={h}: {successes} of {k} succeed on the CPU; {} differ: {flips:?}", flips.len());
        assert!(flips.len() * 100 <= k, "{act:?} H={h}: {flips:?}");
    }
}

/// Reruns give the same bits; so do one thread and all of them, one call or many blocks,
/// and a population split in two (by seeds, or by cells) against the whole.
#[test]
fn results_do_not_depend_on_grouping_threads_or_blocks() {
    let data = Dataset::xor();
    let s = setup(Activation::Sigmoid, OptimizerKind::Momentum, 500);
    let cells = cells(3, s.optimizer.kind);
    let all = members(200, 1);
    let run = |members: &[(usize, u64)], blocks: &[u64]| {
        let mut g = Group::new(&s, &cells, 3, members);
        let mut start = 0;
        for &end in blocks {
            train_population(&s, &data, &mut g, start, end);
            start = end;
        }
        g
    };
    let whole = run(&all, &[500]);
    assert_eq!(whole, run(&all, &[500]), "rerun");
    assert_eq!(whole, run(&all, &[1, 2, 99, 500]), "in blocks");
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(whole, one_thread.install(|| run(&all, &[500])), "one thread");
    let p = s.net(3).param_count();
    for split in [1, 77, 199] {
        let (a, b) = (run(&all[..split], &[500]), run(&all[split..], &[250, 500]));
        assert_eq!([&a.params[..], &b.params[..]].concat(), whole.params, "split at {split}");
        assert_eq!([&a.status[..], &b.status[..]].concat(), whole.status, "split at {split}");
        assert_eq!(a.params.len(), split * p);
    }
    // The same on the GPU: reruns, and a split.
    let gpu = common::gpu();
    let kernel = PopulationKernel::new(&gpu, &s, 3).unwrap();
    let on_gpu = |members: &[(usize, u64)]| {
        let mut g = Group::new(&s, &cells, 3, members);
        kernel.train(&gpu, &s, &data, &mut g, |_| {}).unwrap();
        g
    };
    let whole = on_gpu(&all);
    assert_eq!(whole, on_gpu(&all), "GPU rerun");
    let (a, b) = (on_gpu(&all[..70]), on_gpu(&all[70..]));
    assert_eq!([&a.params[..], &b.params[..]].concat(), whole.params, "GPU split");
    assert_eq!([&a.status[..], &b.status[..]].concat(), whole.status, "GPU split");
}

/// The success test at its very boundary: targets set to a loss the reference reaches, and
/// to the floats either side of it. The lanes test the loss without logs (a product against
/// e^(−N·target)) except near the threshold, where the reference's f32 loss decides; the
/// first success epoch must be the reference's for every one of these targets.
#[test]
fn the_success_test_decides_as_the_reference_at_its_boundary() {
    let data = Dataset::xor();
    let mut checked = 0;
    for seed in [3u64, 4, 5, 6, 8] {
        let cell = Cell { hidden: 2, lr: 2.0, init_scale: 1.0 };
        let probe = setup(Activation::Sigmoid, OptimizerKind::Sgd, 400);
        let mut t = MlpCpuTrainer::new(probe.init(&cell, seed), data.clone(), probe.optimizer_for(&cell), None);
        let mut losses = Vec::new();
        for _ in 0..=400 {
            losses.push(t.loss().unwrap());
            t.run_epochs(&mut [0.0]).unwrap();
        }
        for e0 in [150usize, 300] {
            let l = losses[e0];
            for target in [f32::from_bits(l.to_bits() - 1), l, f32::from_bits(l.to_bits() + 1)] {
                let s = Setup { target_loss: target, ..probe };
                let (_, _, held) = reference(&s, &cell, seed, &data, 400);
                let want = held.iter().position(|&h| h).map_or(NONE, |e| e as u32);
                let mut group = Group::new(&s, std::slice::from_ref(&cell), 2, &[(0, seed)]);
                train_population(&s, &data, &mut group, 0, 400);
                assert_eq!(group.status[0].success, want, "seed {seed}, target {target:e} (loss at epoch {e0})");
                checked += (want != NONE) as usize;
            }
        }
    }
    assert!(checked >= 10, "only {checked} targets were ever met");
}

/// Lane groups of eight and of sixteen, Adam and momentum, with and without stopping at
/// success: the same bits (on a CPU without AVX-512 both runs take eight lanes).
#[test]
fn lane_width_does_not_change_a_bit() {
    let data = Dataset::noisy_xor(9, 0.2, 5).unwrap();
    for (opt, stop) in [(OptimizerKind::Adam, false), (OptimizerKind::Adam, true), (OptimizerKind::Momentum, true)] {
        let s = Setup { stop_at_success: stop, target_loss: 0.2, ..setup(Activation::Tanh, opt, 400) };
        let cells = cells(3, opt);
        let all = members(45, 2);
        let run = |wide: bool| {
            let mut g = Group::new(&s, &cells, 3, &all);
            xorgpu::cpu::population::train_population_lanes(&s, &data, &mut g, 0, 150, wide);
            xorgpu::cpu::population::train_population_lanes(&s, &data, &mut g, 150, 400, wide);
            g
        };
        let (narrow, wide) = (run(false), run(true));
        assert_eq!(narrow, wide, "{opt:?}, stop {stop}");
        assert!(narrow.status.iter().any(|st| st.succeeded()), "{opt:?}: some succeed");
    }
}

/// The GPU's Adam over several dispatches (three epochs each, so its table's rows past the
/// first are read) and several slices (each with its own table of rates and its own count
/// of running networks), weight by weight over 8 epochs; and slicing changes no bit.
#[test]
fn gpu_dispatches_and_slices_change_nothing() {
    let gpu = common::gpu();
    let data = Dataset::xor();
    for (opt, stop, epochs) in [(OptimizerKind::Adam, false, 8), (OptimizerKind::Sgd, true, 3000)] {
        let s = Setup { stop_at_success: stop, ..setup(Activation::Sigmoid, opt, epochs) };
        let cells = cells(2, opt);
        let all = members(1000, 4);
        let mut cpu = Group::new(&s, &cells, 2, &all);
        train_population(&s, &data, &mut cpu, 0, epochs);
        let mut kernel = PopulationKernel::new(&gpu, &s, 2).unwrap();
        let mut whole = Group::new(&s, &cells, 2, &all);
        kernel.train(&gpu, &s, &data, &mut whole, |_| {}).unwrap();
        kernel.max_epochs_per_dispatch = Some(3);
        kernel.max_slice = Some(70);
        let mut sliced = Group::new(&s, &cells, 2, &all);
        kernel.train(&gpu, &s, &data, &mut sliced, |_| {}).unwrap();
        assert_eq!(sliced, whole, "{opt:?}: slices of 70 and 3 epochs a dispatch");
        if opt == OptimizerKind::Adam {
            for (i, (&g, &c)) in whole.params.iter().zip(&cpu.params).enumerate() {
                assert!((g - c).abs() <= 1e-5 * c.abs().max(1.0), "Adam, parameter {i}: {g} vs {c}");
            }
        } else {
            let agree = whole.status.iter().zip(&cpu.status).filter(|(a, b)| a.success == b.success).count();
            assert!(agree >= 995, "{agree} of 1000 stop at the CPU's epoch");
        }
    }
}

/// With --stop-at-success a network stops at the first epoch the test holds, with the
/// weights of a single run of that many epochs; on both backends.
#[test]
fn stopped_networks_hold_the_weights_of_that_epoch() {
    let data = Dataset::xor();
    let s = Setup { stop_at_success: true, ..setup(Activation::Sigmoid, OptimizerKind::Sgd, 3000) };
    let cells = cells(2, s.optimizer.kind);
    let members = members(40, 3);
    let mut group = Group::new(&s, &cells, 2, &members);
    train_population(&s, &data, &mut group, 0, s.epochs);
    let mut stopped = 0;
    for (i, &(c, seed)) in members.iter().enumerate() {
        let st = group.status[i];
        if st.success == NONE {
            continue;
        }
        stopped += 1;
        assert_eq!(st.held, 1);
        assert_eq!(st.epochs_run(s.epochs, true), st.success as u64);
        let (want, loss, held) = reference(&s, &cells[c], seed, &data, st.success as u64);
        assert!(held[st.success as usize] && !held[..st.success as usize].contains(&true), "seed {seed}");
        assert_eq!(group.mlp(&s, i).params, want, "seed {seed}: weights at epoch {}", st.success);
        assert_eq!(st.loss, loss);
    }
    assert!(stopped >= 10, "only {stopped} of 40 succeeded");
    let gpu = common::gpu();
    let mut on_gpu = Group::new(&s, &cells, 2, &members);
    PopulationKernel::new(&gpu, &s, 2).unwrap().train(&gpu, &s, &data, &mut on_gpu, |_| {}).unwrap();
    for (a, b) in on_gpu.status.iter().zip(&group.status) {
        assert_eq!((a.success, a.held), (b.success, b.held));
    }
}

/// Rates that blow the weights up within a few epochs (ReLU, momentum, lr 1e20 on noisy
/// corners): each network is recorded as diverged at the reference's epoch — the first
/// whose loss is not a number, or whose update leaves a weight past ±1e30 or not a number —
/// and stops there with the reference's weights of that moment; it does not count as a
/// success. (Not every network at that rate diverges: some units die first.) A sane rate in
/// the same group does not diverge. The GPU may see it an epoch
/// sooner: its sums overflow in f32 where the CPU's, in f64 as the reference's, still hold.
#[test]
fn divergence_is_the_references_and_stops_the_network() {
    let data = Dataset::noisy_xor(20, 3.0, 1).unwrap();
    let s = setup(Activation::Relu, OptimizerKind::Momentum, 300);
    let cells = vec![Cell { hidden: 4, lr: 1e20, init_scale: 1.0 }, Cell { hidden: 4, lr: 0.01, init_scale: 1.0 }];
    let members: Vec<(usize, u64)> = (0..40).map(|i| (i % 2, i as u64)).collect();
    let mut cpu = Group::new(&s, &cells, 4, &members);
    let mut gpu_group = cpu.clone();
    train_population(&s, &data, &mut cpu, 0, s.epochs);
    let gpu = common::gpu();
    PopulationKernel::new(&gpu, &s, 4).unwrap().train(&gpu, &s, &data, &mut gpu_group, |_| {}).unwrap();
    let mut epochs_seen = std::collections::BTreeSet::new();
    for (i, &(c, seed)) in members.iter().enumerate() {
        let st: Status = cpu.status[i];
        // The reference, epoch by epoch, until the rule above fires.
        let mut t = MlpCpuTrainer::new(s.init(&cells[c], seed), data.clone(), s.optimizer_for(&cells[c]), None);
        let mut diverged = NONE;
        for e in 0..s.epochs as u32 {
            if !t.loss().unwrap().is_finite() {
                diverged = e;
                break;
            }
            t.run_epochs(&mut [0.0]).unwrap();
            if t.mlp().unwrap().params.iter().any(|w| w.is_nan() || w.abs() > xorgpu::train::WEIGHT_BOUND) {
                diverged = e + 1;
                break;
            }
        }
        assert_eq!(st.diverged, diverged, "network {i} (lr {})", cells[c].lr);
        assert!(!st.succeeded() || diverged == NONE);
        if diverged != NONE {
            epochs_seen.insert(diverged);
            let want = t.mlp().unwrap().params;
            let got = cpu.mlp(&s, i).params;
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "network {i}: stopped weights");
        }
        assert!(c == 0 || diverged == NONE, "network {i}: a sane rate diverged");
        let on_gpu = gpu_group.status[i].diverged;
        assert!(on_gpu == st.diverged || (on_gpu != NONE && on_gpu + 1 == st.diverged), "network {i}: GPU {on_gpu}");
    }
    let count = cpu.status.iter().filter(|st| st.diverged != NONE).count();
    assert!(count >= 5 && epochs_seen.len() >= 2, "{count} diverged, at epochs {epochs_seen:?}");
}

/// What the XOR problem is known to do: one hidden unit never learns it (it is not
/// linearly separable), and more units succeed more often.
#[test]
fn one_unit_never_learns_xor_and_more_units_help() {
    let grid = Grid { hidden: vec![1, 2, 3, 8], lr: vec![2.0], init_scale: vec![1.0], models: 1000, seed: 1 };
    let s = setup(Activation::Sigmoid, OptimizerKind::Sgd, 2000);
    let pop = population::train(&grid, &s, &Dataset::xor(), None, |_| {}).unwrap();
    let rates: Vec<f64> = population::report::summarize(&pop).iter().map(|c| c.rate()).collect();
    assert_eq!(rates[0], 0.0, "H = 1 learned XOR");
    assert!(rates[1] > 0.5 && rates[1] < rates[2] && rates[2] <= rates[3], "{rates:?}");
}

/// The independent cross-check: PyTorch autograd in float64 trained the first 10,000 seeds
/// of 2-2-1 and 2-3-1 from the binary's exported starting weights with the single trainer's
/// defaults (tests/golden/make_population_flags.py). The population agrees on whether each
/// learns XOR for at least 99.5% of them; a disagreement must be a network that f32 and f64
/// carry to different ends (near the loss target at the end, or one whose escape from the
/// plateau came at a different epoch), and every one is printed. Both backends.
#[test]
fn success_flags_match_pytorch_in_float64() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/population_flags.json")).expect("the committed flags");
    let seeds = golden["seeds"][1].as_u64().unwrap() as usize;
    let grid = Grid { hidden: vec![2, 3], lr: vec![2.0], init_scale: vec![1.0], models: seeds, seed: 1 };
    let s = setup(Activation::Sigmoid, OptimizerKind::Sgd, golden["epochs"].as_u64().unwrap());
    let gpu = common::gpu();
    for backend in [None, Some(&gpu)] {
        let pop = population::train(&grid, &s, &Dataset::xor(), backend, |_| {}).unwrap();
        let name = if backend.is_some() { "gpu" } else { "cpu" };
        for (g, (group, members)) in pop.groups.iter().enumerate() {
            let h = grid.hidden[g];
            let flags = golden["flags"][h.to_string()].as_str().unwrap().as_bytes();
            let torch_loss = golden["final_loss"][h.to_string()].as_array().unwrap();
            let mut differ = Vec::new();
            for (k, (&(_, seed), st)) in members.iter().zip(&group.status).enumerate() {
                let want = flags[seed as usize - 1] == b'1';
                if st.succeeded() != want {
                    differ.push(format!(
                        "seed {seed}: f32 {} (loss {:.4}), f64 {want} (loss {})",
                        st.succeeded(),
                        st.loss,
                        torch_loss[k]
                    ));
                }
            }
            let ours = group.status.iter().filter(|st| st.succeeded()).count();
            let theirs = flags.iter().filter(|&&f| f == b'1').count();
            eprintln!(
                "{name}, 2-{h}-1: {ours} learn XOR here, {theirs} in PyTorch float64; {} differ:\n  {}",
                differ.len(),
                differ.join("\n  ")
            );
            // The issue allows 0.5% (flips at the criterion's boundary); none were measured.
            assert!(differ.len() * 200 <= seeds, "{name}, 2-{h}-1: {} of {seeds} differ", differ.len());
        }
    }
}
