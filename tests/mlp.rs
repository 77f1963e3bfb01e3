//! Any MLP: the reference against finite differences in f64, and every general path (the
//! GPU's step and tiled kernels, the CPU trainer) against the f64 reference element by element, over
//! widths, depths, batches, activations and optimizers covered pairwise.

mod common;

use common::{gpu, mlp_gradient_mismatch, mlp_gradient_ratio, mlp_reference, rng, GRAD_FLOOR, GRAD_RTOL};
use xorgpu::cpu::fast_mlp::FastMlpTrainer;
use xorgpu::cpu::mlp::{self as reference, MlpCpuTrainer};
use xorgpu::data::Dataset;
use xorgpu::gpu::fused_mlp::PartialSums;
use xorgpu::gpu::mlp::{MlpGpuOptions, MlpGpuTrainer, MlpPath};
use xorgpu::net::optim::{OptState, Optimizer, OptimizerKind};
use xorgpu::net::{Activation, Mlp, Net};
use xorgpu::train::Trainer;

const ACTIVATIONS: [Activation; 3] = [Activation::Sigmoid, Activation::Tanh, Activation::Relu];
const OPTIMIZERS: [OptimizerKind; 3] = [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam];

use xorgpu::selfcheck::{random_data, random_mlp};

fn widths(inputs: usize, width: usize, depth: usize) -> Vec<usize> {
    std::iter::once(inputs).chain(std::iter::repeat_n(width, depth)).chain([1]).collect()
}

/// The reference's gradient is the derivative of its loss: central differences in f64
/// through nets of depth 0 to 4 for each activation. ReLU nets are drawn until no
/// pre-activation is within 1e-3 of the kink, where a difference would straddle it.
#[test]
fn the_reference_gradient_is_the_derivative_of_its_loss() {
    let mut rng = rng();
    for activation in ACTIVATIONS {
        for depth in 0..=4 {
            let net = Net::new(widths(3, [5, 4, 6, 3][depth.min(3)], depth), activation).unwrap();
            let (mlp, data) = (0..1000)
                .map(|_| (random_mlp(&mut rng, &net).to_f64(), random_data(&mut rng, 3, 16)))
                .find(|(mlp, data)| activation != Activation::Relu || kink_distance(mlp, data) > 1e-3)
                .expect("a draw away from every kink");
            let xt: Vec<f64> = data.xt.iter().map(|&x| x as f64).collect();
            let t: Vec<f64> = data.t.iter().map(|&x| x as f64).collect();
            let grads = reference::backward(&mlp, &xt, &t, &reference::forward(&mlp, &xt));
            let h = 1e-6;
            for (i, &g) in grads.iter().enumerate() {
                let mut plus = mlp.clone();
                plus.params[i] += h;
                let mut minus = mlp.clone();
                minus.params[i] -= h;
                let fd = (reference::loss(&plus, &xt, &t) - reference::loss(&minus, &xt, &t)) / (2.0 * h);
                assert!(
                    (fd - g).abs() <= 1e-7 + 1e-6 * g.abs(),
                    "{} depth {depth}: {} = {g} by the chain rule, {fd} by differences",
                    activation.name(),
                    net.param_name(i)
                );
            }
        }
    }
}

/// The smallest |Z| of any hidden unit on any sample.
fn kink_distance(mlp: &Mlp<f64>, data: &Dataset) -> f64 {
    let xt: Vec<f64> = data.xt.iter().map(|&x| x as f64).collect();
    let n = data.len();
    let a = reference::forward(mlp, &xt);
    let mut nearest = f64::INFINITY;
    for l in 1..mlp.net.layers() {
        let s = mlp.net.layer(l);
        let input = if l == 1 { &xt } else { &a[l - 2] };
        let mut z = xorgpu::cpu::matmul(mlp.w(l), false, input, false, s.rows, s.cols, n);
        xorgpu::cpu::add_bias(&mut z, mlp.b(l), n);
        nearest = z.iter().fold(nearest, |m, z| m.min(z.abs()));
    }
    nearest
}

/// One configuration of the pairwise cover.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Case {
    width: usize,
    depth: usize,
    batch: usize,
    activation: Activation,
    optimizer: OptimizerKind,
}

const WIDTHS: [usize; 6] = [1, 3, 16, 33, 64, 256];
const DEPTHS: [usize; 5] = [0, 1, 2, 3, 4];
const BATCHES: [usize; 5] = [1, 63, 65, 1000, 100_003];

impl Case {
    /// Multiply-adds of one pass over the batch: what the case costs.
    fn cost(&self) -> usize {
        let w = widths(2, self.width, self.depth);
        self.batch * w.windows(2).map(|p| p[0] * p[1]).sum::<usize>()
    }

    /// The pairs of axis values this case exercises. Width and activation mean nothing
    /// without a hidden layer, so a depth-0 case covers no pair with them.
    fn pairs(&self) -> Vec<(usize, usize, usize, usize)> {
        let values = [
            WIDTHS.iter().position(|&w| w == self.width).unwrap(),
            self.depth,
            BATCHES.iter().position(|&b| b == self.batch).unwrap(),
            ACTIVATIONS.iter().position(|&a| a == self.activation).unwrap(),
            OPTIMIZERS.iter().position(|&o| o == self.optimizer).unwrap(),
        ];
        let meaningful = |axis: usize| self.depth > 0 || (axis != 0 && axis != 3);
        let mut pairs = Vec::new();
        for a in 0..5 {
            for b in a + 1..5 {
                if meaningful(a) && meaningful(b) {
                    pairs.push((a, values[a], b, values[b]));
                }
            }
        }
        pairs
    }
}

/// The most a case may cost: every pair of values can be met under it (the widest layer
/// with the largest batch at depth 1), so the suite stays short.
const MAX_COST: usize = 60_000_000;

/// Cases that together meet every pair of values of the five axes at least once, chosen
/// greedily (most new pairs first, then the cheapest) among those under [`MAX_COST`].
fn pairwise_cases() -> Vec<Case> {
    let mut all = Vec::new();
    for &width in &WIDTHS {
        for &depth in &DEPTHS {
            for &batch in &BATCHES {
                for activation in ACTIVATIONS {
                    for optimizer in OPTIMIZERS {
                        let c = Case { width, depth, batch, activation, optimizer };
                        if c.cost() <= MAX_COST {
                            all.push(c);
                        }
                    }
                }
            }
        }
    }
    let mut uncovered: std::collections::HashSet<_> = all.iter().flat_map(Case::pairs).collect();
    let mut chosen = Vec::new();
    while !uncovered.is_empty() {
        let best = all
            .iter()
            .max_by_key(|c| {
                let new = c.pairs().iter().filter(|p| uncovered.contains(*p)).count();
                (new, std::cmp::Reverse(c.cost()))
            })
            .copied()
            .unwrap();
        for p in best.pairs() {
            uncovered.remove(&p);
        }
        chosen.push(best);
    }
    chosen
}

#[test]
fn the_cover_meets_every_pair_within_its_cost() {
    let cases = pairwise_cases();
    // Every pair that any configuration has is met (the greedy loop ends only then), and
    // each axis value appears.
    for w in WIDTHS {
        assert!(cases.iter().any(|c| c.width == w && c.depth > 0), "width {w}");
    }
    for b in BATCHES {
        assert!(cases.iter().any(|c| c.batch == b), "batch {b}");
    }
    assert!(cases.iter().any(|c| c.width == 256 && c.batch == 100_003), "the widest layer at the largest batch");
    eprintln!("{} cases, {} multiply-adds a pass in all", cases.len(), cases.iter().map(Case::cost).sum::<usize>());
}

/// Every case, on every general path (the GPU's step and tiled kernels; where the net is narrow
/// enough, the fused pair with each thread's sums written directly, with the workgroup's
/// tree and (where the adapter has them) with subgroup operations, and on a small enough batch the many-epochs kernel; the CPU reference and the fast
/// CPU trainer): the gradient element by element
/// against the f64 reference; one epoch's update against the rule applied in f64 to the
/// reference gradient (the error allowed is the gradient's, carried through the rule); and
/// three epochs' losses against the CPU reference's.
#[test]
fn every_general_path_matches_the_reference_pairwise() {
    let gpu = gpu();
    let mut rng = rng();
    let mut problems = Vec::new();
    let mut worst: Vec<(String, f64)> = Vec::new();
    let (mut fused_cases, mut tiny_cases, mut subgroup_cases) = (0, 0, 0);
    for (i, case) in pairwise_cases().into_iter().enumerate() {
        let inputs = if i % 2 == 0 { 2 } else { 5 };
        let net = Net::new(widths(inputs, case.width, case.depth), case.activation).unwrap();
        let mlp = random_mlp(&mut rng, &net);
        let data = random_data(&mut rng, inputs, case.batch);
        let opt = Optimizer { lr: 0.1, l2: if i % 3 == 0 { 0.01 } else { 0.0 }, ..Optimizer::defaults(case.optimizer) };
        let what = format!("{case:?} {}, {}", net.describe(), opt.describe());
        let r = mlp_reference(&mlp, &data);

        let gpu_on = |path, direct| MlpGpuTrainer::with_reduction(gpu.clone(), &mlp, &data, opt, None, path, direct);
        let mut trainers: Vec<(&str, Box<dyn Trainer>)> = vec![
            ("cpu reference", Box::new(MlpCpuTrainer::new(mlp.clone(), data.clone(), opt, None))),
            ("fast cpu", Box::new(FastMlpTrainer::new(mlp.clone(), data.clone(), opt, None))),
            ("gpu step", Box::new(gpu_on(MlpPath::Step, None).unwrap())),
            ("gpu tiled", Box::new(gpu_on(MlpPath::Tiled, None).unwrap())),
        ];
        if xorgpu::gpu::mlp::unfit(&gpu, &net, case.batch, MlpPath::Tiny).is_none() {
            tiny_cases += 1;
            trainers.push(("gpu tiny", Box::new(gpu_on(MlpPath::Tiny, None).unwrap())));
        }
        if xorgpu::gpu::fused_mlp::unfit(&net).is_none() {
            fused_cases += 1;
            trainers
                .push(("gpu fused, direct sums", Box::new(gpu_on(MlpPath::Fused, Some(PartialSums::Direct)).unwrap())));
            trainers.push((
                "gpu fused, workgroup trees",
                Box::new(gpu_on(MlpPath::Fused, Some(PartialSums::Tree)).unwrap()),
            ));
            if gpu.has_subgroups() {
                subgroup_cases += 1;
                trainers.push((
                    "gpu fused, subgroup sums",
                    Box::new(gpu_on(MlpPath::Fused, Some(PartialSums::Subgroups)).unwrap()),
                ));
            }
        }
        // One epoch by the rule in f64 on the reference gradient.
        let mut want = mlp.to_f64();
        let mut state = OptState::<f64>::new(opt.kind, net.param_count());
        let mut grads = r.grads.clone();
        reference::update(&mut want, &mut grads, &opt, &mut state);
        let mut reference_losses = [f32::NAN; 3];
        let saturated = reference::predict(&mlp, &data.xt).iter().any(|&p| p == 0.0 || p == 1.0);
        // The loss is a mean of −log q (q the probability of the right label), and f32 knows
        // each q only to a few dozen ε absolutely, so each term to that over q: 1e-5 of the
        // loss, or GRAD_FLOOR·mean(1/q) where the terms are tiny (q near 1; one sample of a
        // confident net had a loss of 0.00165, f32 off by 1.8e-5 of it).
        let xt64: Vec<f64> = data.xt.iter().map(|&x| x as f64).collect();
        let inv_q: f64 = reference::predict(&mlp.to_f64(), &xt64)
            .iter()
            .zip(&data.t)
            .map(|(&p, &t)| 1.0 / if t > 0.5 { p } else { 1.0 - p })
            .sum::<f64>()
            / data.len() as f64;
        let loss_allowance = (1e-5 * r.loss + GRAD_FLOOR * inv_q) as f32;
        for (backend, trainer) in trainers.iter_mut() {
            let got = trainer.gradients().unwrap();
            let ratio = mlp_gradient_ratio(&got, &r);
            match worst.iter_mut().find(|(b, _)| b == backend) {
                Some((_, w)) => *w = w.max(ratio),
                None => worst.push((backend.to_string(), ratio)),
            }
            if let Some(p) = mlp_gradient_mismatch(&net, &got, &r) {
                problems.push(format!("{what}: {backend} gradient: {p}"));
            }
            let mut losses = [f32::NAN; 3];
            trainer.run_epochs(&mut losses[..1]).unwrap();
            let after = trainer.mlp().unwrap();
            for (k, ((&p, &w), (&g, &m))) in
                after.params.iter().zip(&want.params).zip(r.grads.iter().zip(&r.magnitudes)).enumerate()
            {
                let tol_g = GRAD_RTOL * g.abs() + GRAD_FLOOR * m;
                let lr = opt.lr as f64;
                // The rule sees the gradient with L2's λ·W added to a weight's, which can
                // cancel it: Adam's step is relative to that sum.
                let is_weight = net.shapes().any(|s| (s.w..s.b).contains(&k));
                let g_rule = if is_weight { g + opt.l2 as f64 * mlp.params[k] as f64 } else { g };
                let carried = match opt.kind {
                    // Adam's step is lr·g/|g| or less: a relative error in g moves it by twice that.
                    OptimizerKind::Adam => lr * (2.0 * tol_g / g_rule.abs().max(1e-30)).min(2.0),
                    _ => lr * tol_g,
                };
                let allowed = carried + 2e-6 * w.abs() + 1e-7;
                // NaN fails too.
                if (p as f64 - w).abs().is_nan() || (p as f64 - w).abs() > allowed {
                    problems.push(format!(
                        "{what}: after one epoch {} = {p} on the {backend}, {w} by the rule in f64 (allowed {allowed:e})",
                        net.param_name(k)
                    ));
                    break;
                }
            }
            trainer.run_epochs(&mut losses[1..]).unwrap();
            // The first loss against f64 too, where no prediction has rounded to 0 or 1 in
            // f32 (there f32's log is the clamp, −100, and f64's is not: every backend agrees
            // with the reference's f32, which the next check holds them to).
            let epoch1 = r.loss as f32;
            if !saturated && (losses[0].is_nan() || (losses[0] - epoch1).abs() > loss_allowance) {
                problems.push(format!("{what}: epoch 1 loss {} on the {backend}, {epoch1} in f64", losses[0]));
            }
            if *backend == "cpu reference" {
                reference_losses = losses;
            }
            for (e, (a, b)) in losses.iter().zip(&reference_losses).enumerate() {
                if a.is_nan() || (a - b).abs() > 2e-5 * b.abs() + (2.0 * GRAD_FLOOR * inv_q) as f32 {
                    problems.push(format!("{what}: epoch {} loss {a} on the {backend}, {b} on the reference", e + 1));
                }
            }
        }
    }
    eprintln!("largest gradient error over its allowance: {worst:?}");
    assert!(fused_cases >= 10, "the fused pair ran in {fused_cases} cases");
    assert!(tiny_cases >= 5, "the many-epochs kernel ran in {tiny_cases} cases");
    // llvmpipe, the CI's adapter, has subgroup operations: there the subgroup form must run,
    // so it cannot pass untested for want of the device's feature.
    if gpu.is_software() {
        assert_eq!(subgroup_cases, fused_cases, "the subgroup sums ran in every fused case");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A saved run resumes exactly: 3 epochs, the model and optimizer state through the weight
/// file's JSON, 3 more, the same weights bit for bit as 6 straight, on both backends and
/// for every rule (Adam's step count and moments, momentum's velocity travel in the file).
#[test]
fn a_saved_run_resumes_exactly() {
    use xorgpu::net::file::Model;
    let gpu = gpu();
    let mut rng = rng();
    let net = Net::new(vec![2, 5, 3, 1], Activation::Tanh).unwrap();
    let mlp = random_mlp(&mut rng, &net);
    let data = random_data(&mut rng, 2, 300);
    for kind in OPTIMIZERS {
        let opt = Optimizer { l2: 0.001, ..Optimizer::defaults(kind) };
        let make = |mlp: &Mlp, state: Option<&OptState>, backend: usize| -> Box<dyn Trainer> {
            match backend {
                0 => Box::new(MlpCpuTrainer::new(mlp.clone(), data.clone(), opt, state.cloned())),
                1 => Box::new(FastMlpTrainer::new(mlp.clone(), data.clone(), opt, state.cloned())),
                2 => Box::new(MlpGpuTrainer::new(gpu.clone(), mlp, &data, opt, state).unwrap()),
                3 => Box::new(MlpGpuTrainer::with_path(gpu.clone(), mlp, &data, opt, state, MlpPath::Tiled).unwrap()),
                4 => Box::new(MlpGpuTrainer::with_path(gpu.clone(), mlp, &data, opt, state, MlpPath::Fused).unwrap()),
                // The many-epochs kernel on a batch small enough for it.
                _ => {
                    let small = data.head(60);
                    Box::new(MlpGpuTrainer::with_path(gpu.clone(), mlp, &small, opt, state, MlpPath::Tiny).unwrap())
                }
            }
        };
        for on_gpu in 0..6 {
            let mut straight = make(&mlp, None, on_gpu);
            straight.run_epochs(&mut [0.0; 6]).unwrap();
            let mut first = make(&mlp, None, on_gpu);
            first.run_epochs(&mut [0.0; 3]).unwrap();
            let model = Model {
                mlp: first.mlp().unwrap(),
                features: None,
                domain: [-6.0, 6.0],
                optimizer: Some(opt),
                state: first.optimizer_state().unwrap(),
                curve: Vec::new(),
            };
            let text = model.to_json(Default::default()).to_string();
            let back = Model::from_json(&text).unwrap();
            assert_eq!(back, model, "the file holds the model");
            assert_eq!(back.state.step, 3);
            let mut resumed = make(&back.mlp, Some(&back.state), on_gpu);
            resumed.run_epochs(&mut [0.0; 3]).unwrap();
            assert_eq!(
                resumed.mlp().unwrap(),
                straight.mlp().unwrap(),
                "{kind:?}, backend {on_gpu}: resumed vs straight"
            );
            assert_eq!(resumed.optimizer_state().unwrap(), straight.optimizer_state().unwrap());
        }
    }
}

/// The fast CPU trainer's result does not depend on the thread count: its chunks, and the
/// order their sums are added in, are fixed by the batch alone, bit for bit on 1, 2 and 3
/// threads. Here 9 chunks of 2,048 and a short one, and a small batch the two cores share
/// (400 samples: 256 and 144), with enough epochs that two threads take the paired path
/// (caller and helper, one chunk each), and one thread does both chunks. The paired runs
/// are repeated until the helper has done some epochs' chunks (on a busy machine the caller
/// may take them all), so its results are among those compared.
#[test]
fn the_fast_cpu_trainer_is_the_same_on_any_thread_count() {
    let mut rng = rng();
    let net = Net::new(vec![3, 16, 8, 1], Activation::Tanh).unwrap();
    let mlp = random_mlp(&mut rng, &net);
    let opt = Optimizer::defaults(OptimizerKind::Adam);
    for n in [9 * 2048 + 77, 400usize] {
        assert!(n.div_ceil(xorgpu::cpu::fast_mlp::chunk_for(n, &net)) >= 2, "{n} samples make more than one chunk");
        let data = random_data(&mut rng, 3, n);
        let with_threads = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut t = FastMlpTrainer::new(mlp.clone(), data.clone(), opt, None);
                let mut losses = [0.0f32; 4 * xorgpu::cpu::fast_mlp::PAIR_MIN_EPOCHS];
                t.run_epochs(&mut losses).unwrap();
                ((losses, t.mlp().unwrap().params), t.helper_epochs())
            })
        };
        let (one, _) = with_threads(1);
        let mut helped = 0;
        for _ in 0..50 {
            let (two, by_helper) = with_threads(2);
            assert_eq!(one, two, "{n} samples");
            helped += by_helper;
            if helped > 0 || n > 4096 {
                break;
            }
        }
        assert!(helped > 0 || n > 4096, "the helper took no epoch in 50 runs");
        assert_eq!(one, with_threads(3).0, "{n} samples");
    }
}

/// The many-epochs kernel runs every epoch it is given: 3,000 epochs (blocks of 1,000, many
/// dispatches each on a CPU adapter, whose loop guard would end a long one early) of
/// 2-16-16-1 tanh by SGD on 4 and 200 samples, each epoch's loss against the fast CPU
/// trainer's. An epoch skipped or a loss left unwritten would part the curves.
#[test]
fn the_many_epochs_kernel_runs_every_epoch() {
    let gpu = gpu();
    let mut rng = rng();
    let net = Net::new(vec![2, 16, 16, 1], Activation::Tanh).unwrap();
    for n in [4, 200] {
        let mlp = random_mlp(&mut rng, &net);
        let data = random_data(&mut rng, 2, n);
        let opt = Optimizer { lr: 0.05, ..Optimizer::defaults(OptimizerKind::Sgd) };
        let mut tiny = MlpGpuTrainer::with_path(gpu.clone(), &mlp, &data, opt, None, MlpPath::Tiny).unwrap();
        let mut cpu = FastMlpTrainer::new(mlp.clone(), data.clone(), opt, None);
        for block in 0..3 {
            let (mut got, mut want) = (vec![f32::NAN; 1000], vec![f32::NAN; 1000]);
            tiny.run_epochs(&mut got).unwrap();
            cpu.run_epochs(&mut want).unwrap();
            for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs() + 1e-6,
                    "N={n}: epoch {}: {g} on the many-epochs kernel, {w} on the CPU",
                    1000 * block + e + 1
                );
            }
        }
    }
}

/// Past one storage binding the fused pair binds the batch in chunks, each chunk's
/// workgroups writing their sums after the earlier chunks': a batch cut into uneven chunks
/// (1,000 samples in pieces of 300; 65 in 64 and 1), with every form of sums the adapter
/// has, gives the reference's gradient element by element and its loss, and trains as the
/// unchunked pair does.
#[test]
fn a_chunked_fused_epoch_matches_the_reference() {
    let gpu = gpu();
    let mut rng = rng();
    let mut forms = vec![PartialSums::Direct, PartialSums::Tree];
    if gpu.has_subgroups() {
        forms.push(PartialSums::Subgroups);
    }
    let cases = [(vec![2, 16, 16, 1], Activation::Tanh, 1000, 300, 4), (vec![5, 3, 1], Activation::Relu, 65, 64, 2)];
    for (widths, activation, n, max_chunk, chunks) in cases {
        let net = Net::new(widths, activation).unwrap();
        let mlp = random_mlp(&mut rng, &net);
        let data = random_data(&mut rng, net.inputs(), n);
        let r = mlp_reference(&mlp, &data);
        let opt = Optimizer { lr: 0.1, ..Optimizer::defaults(OptimizerKind::Momentum) };
        for &sums in &forms {
            let what = format!("{} on {n} samples, {}", net.describe(), sums.name());
            let on = |max_chunk| {
                let options = MlpGpuOptions { sums: Some(sums), max_chunk, ..MlpGpuOptions::default() };
                MlpGpuTrainer::with_options(gpu.clone(), &mlp, &data, opt, None, MlpPath::Fused, options).unwrap()
            };
            let (mut chunked, mut whole) = (on(Some(max_chunk)), on(None));
            assert_eq!((chunked.chunks(), whole.chunks()), (chunks, 1), "{what}: chunks");
            let ratio = mlp_gradient_ratio(&chunked.gradients().unwrap(), &r);
            assert!(ratio <= 1.0, "{what}: the chunked gradient is {ratio} of the allowance from the reference's");
            let loss = chunked.loss().unwrap() as f64;
            assert!((loss - r.loss).abs() <= 1e-5 * r.loss, "{what}: loss {loss}, {} in f64", r.loss);
            let mut losses = [[f32::NAN; 3]; 2];
            chunked.run_epochs(&mut losses[0]).unwrap();
            whole.run_epochs(&mut losses[1]).unwrap();
            let (a, b) = (chunked.mlp().unwrap().params, whole.mlp().unwrap().params);
            let diff = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt();
            let norm = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
            assert!(diff <= 1e-6 * norm, "{what}: after 3 epochs the weights are {} apart", diff / norm);
            for (x, y) in losses[0].iter().zip(&losses[1]) {
                assert!(
                    (x - y).abs() <= 1e-5 * y.abs(),
                    "{what}: losses {:?} chunked, {:?} whole",
                    losses[0],
                    losses[1]
                );
            }
        }
    }
}
