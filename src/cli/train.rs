//! The `train` command: options, set-up, the training loop's progress, and the report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use super::{
    check_writable, hidden_width, noise_sigma, open_gpu, positive_f32, positive_u64, positive_usize, say, Backend,
    KernelChoice,
};
use crate::backend::Plan;
use crate::cpu;
use crate::cpu::mlp::{score, Score};
use crate::data::features::{self, Feature};
use crate::data::playground::DataSet;
use crate::data::{Dataset, XOR_INPUTS};
use crate::experiments::pictures::{
    boundary_chart, loss_chart, units_chart, BOUNDARY_CHART, BOUNDARY_POINTS, LOSS_CHART, UNITS_CHART,
};
use crate::files::{check_distinct, writable_folder};
use crate::gpu::bandwidth::copy_bandwidth;
use crate::gpu::Gpu;
use crate::memory;
use crate::net::file::{into_inputs, Model, MAX_DOMAIN};
use crate::net::optim::{OptState, Optimizer, OptimizerKind};
use crate::net::{Activation, Mlp, Net};
use crate::train::{self, Trainer};
use crate::Error;

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Epochs of full-batch training.
    #[arg(long, default_value_t = 5000, value_parser = positive_u64)]
    pub epochs: u64,
    /// Learning rate [default: 2 for sgd, 0.5 for momentum, 0.03 for adam, or the --init file's].
    #[arg(long, value_parser = positive_f32)]
    pub lr: Option<f32>,
    /// Hidden width H: short for --layers F,H,1 with F the number of inputs
    /// [default: 2, or the --init file's net].
    #[arg(long, value_parser = hidden_width, conflicts_with = "layers")]
    pub hidden: Option<usize>,
    /// The widths of every layer: inputs, 0 to 8 hidden layers of 1 to 256 units, and the
    /// output 1 (2,16,16,1; 2,1 is logistic regression).
    #[arg(long, value_name = "D0,..,1", value_parser = crate::net::parse_widths)]
    pub layers: Option<::std::vec::Vec<usize>>,
    /// The hidden layers' activation (the output is always a sigmoid) [default: sigmoid].
    #[arg(long, value_enum)]
    pub activation: Option<Activation>,
    /// The update rule [default: sgd, or the --init file's, whose state it continues].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Momentum μ (--optimizer momentum) [default: 0.9].
    #[arg(long, value_parser = unit_interval)]
    pub momentum: Option<f32>,
    /// Adam's β₁ [default: 0.9].
    #[arg(long, value_parser = unit_interval)]
    pub beta1: Option<f32>,
    /// Adam's β₂ [default: 0.999].
    #[arg(long, value_parser = unit_interval)]
    pub beta2: Option<f32>,
    /// Adam's ε [default: 1e-8].
    #[arg(long, value_parser = positive_f32)]
    pub eps: Option<f32>,
    /// L2 strength λ, added as λ·W to the weights' gradients (not the biases') [default: 0].
    #[arg(long, value_parser = non_negative_f32)]
    pub l2: Option<f32>,
    /// Seed of the ChaCha8 generator for the initial weights (and the data, unless --data-seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Multiplies the initial weights and biases (1 keeps the draw as it is); larger starts
    /// saturate units sooner, smaller ones start nearer the symmetric saddle.
    #[arg(long, default_value_t = 1.0, value_parser = positive_f32, conflicts_with = "init")]
    pub init_scale: f32,
    /// Seed of the generated data [default: --seed].
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Start from the weights (and optimizer state) in this JSON file instead of random ones.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Write the trained weights to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print the loss every K epochs (default: ten lines per run).
    #[arg(long, value_name = "K", value_parser = positive_u64)]
    pub log_every: Option<u64>,
    /// The generated training data.
    #[arg(long, value_enum, default_value_t = DataSet::Corners)]
    pub dataset: DataSet,
    /// Training samples: for corners, 4 is the XOR table and any other size noisy samples
    /// around its corners.
    #[arg(long, default_value_t = 4, value_parser = positive_usize)]
    pub batch: usize,
    /// Noise: for corners the standard deviation σ of the Gaussian noise on each input; for
    /// circle, gauss, spiral and quadrants the playground's noise ν, 0 to 0.5.
    #[arg(long, default_value_t = 0.1, value_parser = noise_sigma)]
    pub noise: f32,
    /// The network's inputs, computed from x1, x2: any of x1, x2, x1^2, x2^2, x1*x2,
    /// sin(x1), sin(x2) (or x1sq, x2sq, x1x2, sinx1, sinx2) [default: x1,x2].
    #[arg(long, value_name = "LIST", value_parser = crate::data::features::parse_list)]
    pub features: Option<::std::vec::Vec<Feature>>,
    /// Train on the rows of this CSV file (header x1,..,xd,y; y 0 or 1) instead of generated ones.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["batch", "noise", "dataset", "data_seed"])]
    pub data: Option<PathBuf>,
    /// Test samples drawn from the same set on a stream of their own, reported after training.
    #[arg(long, value_name = "M", value_parser = positive_usize, conflicts_with_all = ["test_data", "data"])]
    pub test_batch: Option<usize>,
    /// A test set from a CSV file (the same columns as the training data).
    #[arg(long, value_name = "FILE.csv")]
    pub test_data: Option<PathBuf>,
    /// Print exactly one JSON object on stdout; everything else goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no loss lines; the summary only.
    #[arg(long)]
    pub quiet: bool,
    /// Write loss.png (loss against epoch), boundary.png (the decision boundary) and
    /// units.png (every unit's output over the plane) here.
    #[arg(long, value_name = "DIR")]
    pub plot_dir: Option<PathBuf>,
    /// Which GPU kernels train [default: fused where the net fits them (the 2-H-1 sigmoid
    /// net by plain SGD, or any net up to 32 units a layer and 600 parameters), else tiled].
    #[arg(long, value_enum)]
    pub kernels: Option<KernelChoice>,
    /// After training, time each kernel with timestamp queries and print where an epoch's
    /// device time goes, with dispatches and submissions per epoch and bytes per second.
    #[arg(long)]
    pub profile: bool,
    /// Most epochs one dispatch of a small batch's many-epochs kernel runs, so that no
    /// single GPU job runs long enough for an OS watchdog to reset the device.
    /// [default: 20000]
    #[arg(long, value_parser = positive_usize)]
    pub epochs_per_dispatch: Option<usize>,
    /// Use the adapter whose name contains NAME (like WGPU_ADAPTER_NAME).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

pub(crate) fn unit_interval(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number from 0 up to (not including) 1, got {s:?}")),
    }
}

pub(crate) fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(0.0) => Ok(0.0),
        _ => positive_f32(s).map_err(|e| e.replace("a finite number > 0", "a finite number ≥ 0")),
    }
}

/// What the run trains: the model (with its inputs and domain), the optimizer and its state.
struct Setup {
    mlp: Mlp,
    features: Option<Vec<Feature>>,
    opt: Optimizer,
    state: Option<OptState>,
}

/// The model to train: `--init`'s file (which `--layers`, `--hidden` and `--activation`, if
/// given, must match) or a fresh one for the data's `d` raw inputs; the optimizer from the
/// command line over the file's, whose state continues when the rule is the same.
fn setup(args: &TrainArgs, raw_inputs: usize) -> Result<Setup, Error> {
    let init = args.init.as_deref().map(Model::load).transpose()?;
    let features = match (&args.features, &init) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(m)) => m.features.clone(),
        (None, None) if raw_inputs == 2 => Some(features::RAW.to_vec()),
        (None, None) => None,
    };
    let d0 = features.as_ref().map_or(raw_inputs, Vec::len);
    let widths = match (&args.layers, args.hidden) {
        (Some(w), _) => Some(w.clone()),
        (None, Some(h)) => Some(vec![d0, h, 1]),
        (None, None) => None,
    };
    let mlp = match &init {
        Some(m) => {
            let name = args.init.as_ref().expect("init").display();
            let net = &m.mlp.net;
            if let Some(w) = widths.as_ref().filter(|w| **w != net.widths) {
                let given = w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
                return Err(Error::Input(format!(
                    "--layers/--hidden ({given}) do not match {} of {name}",
                    net.describe()
                )));
            }
            match (&args.features, &m.features) {
                (Some(f), Some(saved)) if f != saved => {
                    return Err(Error::Input(format!(
                        "--features {} does not match the features of {name} ({})",
                        features::describe(f),
                        features::describe(saved)
                    )))
                }
                (Some(f), None) => {
                    return Err(Error::Input(format!(
                        "--features {}: {name} was trained on the columns of a data file, not on features of x1, x2",
                        features::describe(f)
                    )))
                }
                _ => {}
            }
            if let Some(a) = args.activation.filter(|a| *a != net.activation && net.layers() > 1) {
                return Err(Error::Input(format!(
                    "--activation {} does not match the {} of {name}",
                    a.name(),
                    net.activation.name()
                )));
            }
            m.mlp.clone()
        }
        None => {
            let widths = widths.unwrap_or_else(|| vec![d0, 2, 1]);
            let net = Net::new(widths, args.activation.unwrap_or(Activation::Sigmoid))
                .map_err(|e| Error::Input(format!("--layers: {e}")))?;
            net.init_scaled(args.seed, args.init_scale)
        }
    };
    crate::net::file::check_inputs(&mlp.net, features.as_deref(), raw_inputs)?;
    let saved = init.as_ref().and_then(|m| m.optimizer);
    let kind = args.optimizer.or(saved.map(|o| o.kind)).unwrap_or(OptimizerKind::Sgd);
    let base = saved.filter(|o| o.kind == kind).unwrap_or_else(|| Optimizer::defaults(kind));
    let opt = Optimizer {
        lr: args.lr.unwrap_or(base.lr),
        l2: args.l2.unwrap_or(base.l2),
        ..rule_settings(base, [args.momentum, args.beta1, args.beta2, args.eps])
    };
    // The saved state continues only under the rule that made it; a change of rule is said.
    if let Some(o) = saved.filter(|o| o.kind != kind) {
        eprintln!(
            "note: {} was trained by {}; its state is not continued under {} (lr {})",
            args.init.as_ref().expect("a saved optimizer comes from --init").display(),
            o.kind.name(),
            kind.name(),
            opt.lr
        );
    }
    let state = init.filter(|m| m.optimizer.map(|o| o.kind) == Some(kind) && m.state.step > 0).map(|m| m.state);
    Ok(Setup { mlp, features, opt, state })
}

/// `base` (of the rule in use) with the command line's `[--momentum, --beta1, --beta2,
/// --eps]` where given; those the rule does not use are said to be ignored. For `train`
/// and `population` alike.
pub(crate) fn rule_settings(base: Optimizer, given: [Option<f32>; 4]) -> Optimizer {
    let [momentum, beta1, beta2, eps] = given;
    let kind = base.kind;
    let unused: Vec<&str> = [
        ("--momentum", momentum.is_some() && kind != OptimizerKind::Momentum),
        ("--beta1", beta1.is_some() && kind != OptimizerKind::Adam),
        ("--beta2", beta2.is_some() && kind != OptimizerKind::Adam),
        ("--eps", eps.is_some() && kind != OptimizerKind::Adam),
    ]
    .into_iter()
    .filter_map(|(name, unused)| unused.then_some(name))
    .collect();
    if !unused.is_empty() {
        eprintln!(
            "warning: {} {} not used by {}; ignored",
            unused.join(", "),
            if unused.len() == 1 { "is" } else { "are" },
            kind.name()
        );
    }
    Optimizer {
        momentum: momentum.unwrap_or(base.momentum),
        beta1: beta1.unwrap_or(base.beta1),
        beta2: beta2.unwrap_or(base.beta2),
        eps: eps.unwrap_or(base.eps),
        ..base
    }
}

/// Fails now, before any training, where an output could not be written later.
fn check_outputs(args: &TrainArgs) -> Result<(), Error> {
    let charts: Vec<(String, PathBuf)> = args
        .plot_dir
        .iter()
        .flat_map(|dir| CHARTS.map(|name| (format!("--plot-dir's {name}"), dir.join(name))))
        .collect();
    let mut outputs: Vec<(String, &std::path::Path)> = charts.iter().map(|(n, p)| (n.clone(), p.as_path())).collect();
    // The model to start from must not be a chart the run overwrites (it may be --save:
    // resuming in place).
    if let Some(init) = &args.init {
        check_distinct(&outputs, &[("--init".to_string(), init.as_path())])?;
    }
    outputs.extend(args.save.as_deref().map(|p| ("--save".to_string(), p)));
    // Resuming in place (--init m.json --save m.json) is allowed: the file is read first.
    let inputs: Vec<(String, &std::path::Path)> = [("--data", &args.data), ("--test-data", &args.test_data)]
        .into_iter()
        .filter_map(|(name, p)| p.as_deref().map(|p| (name.to_string(), p)))
        .collect();
    check_distinct(&outputs, &inputs)?;
    if let Some(path) = &args.save {
        check_writable(path)?;
    }
    if let Some(dir) = &args.plot_dir {
        writable_folder(dir)?;
        for (_, chart) in &charts {
            check_writable(chart)?;
        }
    }
    Ok(())
}

/// The charts --plot-dir holds.
const CHARTS: [&str; 3] = [LOSS_CHART, BOUNDARY_CHART, UNITS_CHART];

/// What the run was, for the saved model and the report.
struct RunInfo {
    backend: &'static str,
    adapter: Option<String>,
    batch: usize,
    /// The kernels that trained, on the GPU.
    path: Option<String>,
    /// What the run was predicted to need (see [`memory`]).
    need: memory::Need,
}

pub fn train_command(args: &TrainArgs) -> Result<(), Error> {
    // Everything a user gave is checked before any device is opened.
    check_outputs(args)?;
    args.dataset.check_noise(args.noise)?;
    let user_data = args.data.as_deref().map(Dataset::from_csv).transpose()?;
    let user_test = args.test_data.as_deref().map(Dataset::from_csv).transpose()?;
    let raw_inputs = user_data.as_ref().map_or(2, Dataset::inputs);
    if let Some(t) = user_test.as_ref().filter(|t| t.inputs() != raw_inputs) {
        return Err(Error::Input(format!(
            "--test-data has {} input columns but the training data has {raw_inputs}",
            t.inputs()
        )));
    }
    let Setup { mlp, features, opt, state } = setup(args, raw_inputs)?;
    let batch = user_data.as_ref().map_or(args.batch, Dataset::len);
    let net = mlp.net.clone();
    if args.plot_dir.is_some() {
        crate::experiments::pictures::check_plane(&net, features.as_deref())
            .map_err(|e| Error::Input(format!("--plot-dir: {e}")))?;
    }
    let gpu = open_gpu(args.backend, args.adapter.as_deref())?;
    if gpu.is_none() {
        super::warn_gpu_only(&[
            ("--kernels", args.kernels.is_some()),
            ("--epochs-per-dispatch", args.epochs_per_dispatch.is_some()),
            ("--adapter", args.adapter.is_some()),
        ]);
    }
    // Any other net: the fused pair where it is narrow enough, else the tiled kernels (the
    // reason said with --profile and in the log); --kernels chooses, and is refused where
    // the chosen path cannot take the run. Before the data is made: a batch the device
    // cannot take costs nothing.
    let plan = Plan::choose(gpu.as_ref(), &net, &opt, batch, args.kernels)?;
    let need = plan.need;
    // The generated test set, likewise before it is made: its raw points, its inputs and
    // its labels.
    if let Some(m) = args.test_batch {
        let each = memory::Need { host: 4 * (2 + net.inputs() as u64 + 1), device: 0 };
        memory::check_per_sample(each, m, false).map_err(|e| Error::Input(format!("--test-batch: {e}")))?;
    }
    let data_seed = args.data_seed.unwrap_or(args.seed);
    let raw = match user_data {
        Some(d) => d,
        None => args.dataset.generate(args.batch, args.noise, data_seed, 1)?,
    };
    let test_raw = match (user_test, args.test_batch) {
        (Some(d), _) => Some(d),
        (None, Some(m)) => Some(args.dataset.generate(m, args.noise, data_seed, 2)?),
        (None, None) => None,
    };
    let domain = if args.data.is_some() { data_domain(&raw) } else { args.dataset.domain() };
    // The points the boundary picture shows (the data moves into the trainer).
    let shown = args.plot_dir.as_ref().map(|_| raw.head(BOUNDARY_POINTS));
    let test = test_raw.map(|t| into_inputs(&net, features.as_deref(), t)).transpose()?;
    // Shared with the CPU trainers, so the trained model is scored on it without a copy.
    let data = Arc::new(into_inputs(&net, features.as_deref(), raw)?);
    let (backend, adapter) = match &gpu {
        Some(g) => ("gpu", Some(g.adapter_name.clone())),
        None => ("cpu", None),
    };
    let log_every = args.log_every.unwrap_or((args.epochs / 10).max(1));
    let source = match &args.data {
        Some(p) => format!("rows of {}", p.display()),
        None if args.dataset == DataSet::Corners && batch == 4 => "the XOR table".to_string(),
        None if args.dataset == DataSet::Corners => format!("noisy XOR samples, σ = {}", args.noise),
        None => format!("{}, noise {}", args.dataset.name(), args.noise),
    };

    if let Some(a) = &adapter {
        say(args.json, &format!("adapter: {a}"));
    }
    let model_words = match plan.classic {
        Some(h) => format!("2-{h}-1"),
        None => net.describe(),
    };
    let rule = if opt.is_plain_sgd() { format!("lr {}", number(opt.lr)) } else { opt.describe() };
    say(
        args.json,
        &format!(
            "training {model_words} on {batch} sample{} ({source}) for {} epoch{}, {rule}, seed {}, on the {backend}",
            if batch == 1 { "" } else { "s" },
            args.epochs,
            if args.epochs == 1 { "" } else { "s" },
            args.seed
        ),
    );
    if let Some(f) = features.as_ref().filter(|f| f.as_slice() != features::RAW) {
        say(args.json, &format!("inputs: {}", features::describe(f)));
    }
    if args.init_scale != 1.0 {
        say(args.json, &format!("initial weights and biases × {}", args.init_scale));
    }
    // The profile measures the device's copy bandwidth after training, as the epoch's yardstick.
    let profile_gpu = if args.profile { gpu.clone() } else { None };
    let path_name = plan.kernels();
    let mut trainer = plan.trainer(gpu, &mlp, data.clone(), opt, state, args.epochs_per_dispatch)?;
    let width = args.epochs.to_string().len();
    let progress = Progress::new(args.epochs, args.quiet || args.json);
    let mut curve = LossCurve::new(args.epochs);
    let outcome = train::train_observed(
        trainer.as_mut(),
        args.epochs,
        log_every,
        |epoch, loss| {
            if !args.quiet {
                progress.println(args.json, &format!("epoch {epoch:>width$}  loss {loss:.6}"));
            }
        },
        |first, losses| {
            curve.add(first, losses);
            progress.update(first + losses.len() as u64 - 1, losses[losses.len() - 1]);
        },
    );
    progress.finish();
    let outcome = outcome?;

    if args.profile {
        if let Some(why) = &plan.reason {
            say(args.json, &format!("kernels: {why}"));
        }
        print_profile(trainer.as_mut(), args.json, batch, profile_gpu.as_ref())?;
    }

    let train_score = score(&outcome.params, &data);
    crate::train::check_outputs(&outcome.params, &train_score, data.len(), args.epochs)?;
    let run = RunInfo { backend, adapter, batch, path: path_name, need };
    let model = Model {
        mlp: outcome.params.clone(),
        features: features.clone(),
        domain,
        optimizer: Some(opt),
        state: outcome.state.clone(),
        curve: curve.points.clone(),
    };
    if let Some(path) = &args.save {
        save_model(path, args, &model, &outcome, &run)?;
        say(args.json, &format!("saved weights to {}", path.display()));
    }
    if let (Some(dir), Some(shown)) = (&args.plot_dir, &shown) {
        loss_chart(&dir.join(LOSS_CHART), &curve.points)?;
        boundary_chart(&dir.join(BOUNDARY_CHART), &model, shown)?;
        units_chart(&dir.join(UNITS_CHART), &model)?;
        say(args.json, &format!("wrote {0}/{LOSS_CHART}, {0}/{BOUNDARY_CHART} and {0}/{UNITS_CHART}", dir.display()));
    }
    let test_score = test.as_ref().map(|t| score(&outcome.params, t));
    // The four corners' predictions, where the inputs are x1, x2 on the corners.
    let corners =
        (args.data.is_none() && args.dataset == DataSet::Corners && features.as_deref() == Some(&features::RAW[..]))
            .then(|| cpu::mlp::predict(&outcome.params, &Dataset::xor().xt));
    report(args, &outcome, &run, &opt, train_score, test_score, corners.as_deref());
    Ok(())
}

/// The square the user's data lives in, for the pictures: its x1, x2 range with a margin,
/// within ±[`MAX_DOMAIN`] (a model file's limit; values near f32's largest made the range
/// infinite, and drawing it never ended).
fn data_domain(raw: &Dataset) -> [f32; 2] {
    let (lo, hi) = raw.xt.iter().take(2 * raw.len()).fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let (lo, hi) = (lo.clamp(-MAX_DOMAIN, MAX_DOMAIN), hi.clamp(-MAX_DOMAIN, MAX_DOMAIN));
    let margin = ((hi - lo) * 0.1).max(0.5);
    [(lo - margin).max(-MAX_DOMAIN), (hi + margin).min(MAX_DOMAIN)]
}

/// The model with what produced it.
fn save_model(
    path: &std::path::Path,
    args: &TrainArgs,
    model: &Model,
    outcome: &train::Outcome,
    run: &RunInfo,
) -> Result<(), Error> {
    let mut extra = serde_json::Map::new();
    for (k, v) in [
        ("epochs", json!(args.epochs)),
        ("lr", json!(model.optimizer.map(|o| o.lr))),
        ("seed", json!(args.seed)),
        ("init_scale", json!(args.init_scale)),
        ("dataset", json!(args.data.as_ref().map_or(args.dataset.name().to_string(), |p| p.display().to_string()))),
        ("batch", json!(run.batch)),
        ("final_loss", json!(outcome.final_loss)),
        ("backend", json!(run.backend)),
        ("adapter", json!(run.adapter)),
    ] {
        extra.insert(k.into(), v);
    }
    model.save(path, extra)
}

/// The final loss, the accuracies, the four corners' predictions (where the data is on
/// them) and the rates: lines, or one JSON object.
fn report(
    args: &TrainArgs,
    outcome: &train::Outcome,
    run: &RunInfo,
    opt: &Optimizer,
    train_score: Score,
    test_score: Option<Score>,
    corners: Option<&[f32]>,
) {
    let epochs_per_s = args.epochs as f64 / outcome.seconds;
    let samples_per_s = epochs_per_s * run.batch as f64;
    let net = &outcome.params.net;
    if args.json {
        let report = json!({
            "backend": run.backend,
            "adapter": run.adapter,
            "kernels": run.path,
            "batch": run.batch,
            "layers": net.widths,
            "hidden": net.classic_hidden(),
            "activation": net.activation.name(),
            "optimizer": opt.kind.name(),
            "epochs": args.epochs,
            "lr": opt.lr,
            "seed": args.seed,
            "final_loss": outcome.final_loss,
            "train_accuracy": train_score.accuracy,
            "test_loss": test_score.map(|s| s.loss),
            "test_accuracy": test_score.map(|s| s.accuracy),
            "seconds": outcome.seconds,
            "epochs_per_s": epochs_per_s,
            "samples_per_s": samples_per_s,
            "predictions": corners,
            "memory": {
                "host_bytes_needed": run.need.host,
                "device_bytes_needed": run.need.device,
                "host_peak_bytes": memory::peak_resident_bytes(),
            },
        });
        // println!, so a write that fails ends the run as any output does (see main).
        println!("{report}");
    } else {
        // + 0.0 turns a −0 into 0: no "-0.000000".
        println!("final loss {:.6}", outcome.final_loss + 0.0);
        println!("train accuracy {:.2}%", 100.0 * train_score.accuracy);
        if let Some(s) = test_score {
            println!("test loss {:.6}, test accuracy {:.2}%", s.loss + 0.0, 100.0 * s.accuracy);
        }
        if let Some(predictions) = corners {
            println!("predictions:");
            for (x, p) in XOR_INPUTS.iter().zip(predictions) {
                println!("  ({}, {}) -> {p:.4}  rounded {}", x[0], x[1], p.round());
            }
        }
        println!(
            "training loop: {:.3} s, {} epochs/s, {} samples/s",
            outcome.seconds,
            rate(epochs_per_s),
            rate(samples_per_s)
        );
    }
}

/// A progress bar on stderr for a run that lasts over a second: hidden until then, and
/// always when stderr is not a terminal or the user asked for quiet or JSON.
struct Progress {
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
    enabled: bool,
}

impl Progress {
    fn new(epochs: u64, quiet: bool) -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(epochs);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len}  {msg}  {per_sec}  eta {eta}")
                .expect("template"),
        );
        let enabled = !quiet && std::io::stderr().is_terminal();
        Progress { bar, start: std::time::Instant::now(), enabled }
    }

    fn update(&self, epoch: u64, loss: f32) {
        if self.enabled && self.bar.is_hidden() && self.start.elapsed().as_secs_f64() > 1.0 {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_position(epoch);
        self.bar.set_message(format!("loss {loss:.6}"));
    }

    /// A line that does not tear the bar.
    fn println(&self, json: bool, line: &str) {
        self.bar.suspend(|| say(json, line));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The loss of up to 1,000 evenly spread epochs, for loss.png and the saved model.
struct LossCurve {
    every: u64,
    points: Vec<(u64, f32)>,
}

impl LossCurve {
    fn new(epochs: u64) -> Self {
        LossCurve { every: epochs.div_ceil(1000).max(1), points: Vec::new() }
    }

    fn add(&mut self, first: u64, losses: &[f32]) {
        for (i, &l) in losses.iter().enumerate() {
            let epoch = first + i as u64;
            if (epoch - 1).is_multiple_of(self.every) {
                self.points.push((epoch, l));
            }
        }
    }
}

/// `--profile`: the device time of each kernel over a few more epochs, the bytes the epoch
/// reads per second against what the device copies per second, and its multiply-adds per
/// second against what the device runs.
fn print_profile(trainer: &mut dyn Trainer, json: bool, batch: usize, gpu: Option<&Gpu>) -> Result<(), Error> {
    // Enough epochs to time well, few enough to stay short at any batch.
    let epochs = (1usize << 24).div_ceil(batch).clamp(3, 1000);
    match trainer.profile(epochs)? {
        None => say(json, "profile: not available (CPU backend, or an adapter without timestamp queries)"),
        Some(p) => {
            let total: f64 = p.kernels.iter().map(|k| k.1).sum();
            say(
                json,
                &format!("profile over {} more epochs (timestamp queries, each dispatch in its own pass):", p.epochs),
            );
            for (kernel, s) in &p.kernels {
                say(json, &format!("  {kernel:<18} {:>10.3} µs/epoch  {:>5.1}%", s * 1e6, 100.0 * s / total));
            }
            say(
                json,
                &format!(
                    "  dispatches per epoch {:.4}, submissions per epoch {:.4}; the epoch must read {} bytes: {:.2} GB/s achieved",
                    p.dispatches_per_epoch,
                    p.submissions_per_epoch,
                    p.bytes_per_epoch,
                    p.bytes_per_epoch as f64 / total / 1e9
                ),
            );
            if let Some(g) = gpu {
                let copy = copy_bandwidth(g)?;
                say(
                    json,
                    &format!(
                        "  copy bandwidth {copy}; the epoch reads at {:.1}% of the faster",
                        100.0 * p.bytes_per_epoch as f64 / total / copy.bytes_per_s()
                    ),
                );
                // The yardstick for wide nets, whose epochs are multiply-adds more than reads.
                let fma = crate::gpu::ceiling::fma_rate(g)?;
                let achieved = p.macs_per_epoch as f64 / total;
                say(
                    json,
                    &format!(
                        "  multiply-adds: {} an epoch, {:.3e}/s achieved; the device runs {fma:.3e}/s (fma_ops, f32, median of 5): {:.1}% of it",
                        p.macs_per_epoch,
                        achieved,
                        100.0 * achieved / fma
                    ),
                );
            }
        }
    }
    Ok(())
}

/// A number as a person writes it: plain in the usual range, with an exponent past it
/// (`1e38`, not thirty-nine digits).
fn number(x: f32) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A rate with the digits that matter: whole numbers from 100 up, three decimals below.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}
