//! The command line: the parser, the checks on its values, and the commands' dispatch.

pub mod population;
pub mod scale;
pub mod serve;
pub mod tools;
pub mod train;

pub use crate::backend::KernelChoice;
pub use train::TrainArgs;
pub(crate) use train::{non_negative_f32, unit_interval};

use clap::{Parser, Subcommand, ValueEnum};

pub(crate) use crate::files::check_writable;
use crate::gpu::Gpu;
use crate::model::MAX_HIDDEN;
use crate::Error;

#[derive(Parser, Debug)]
#[command(
    name = "xorgpu",
    version,
    about = "Trains small MLPs (the 2-2-1 XOR net and beyond) with WGSL compute shaders (wgpu), or on the CPU",
    args_conflicts_with_subcommands = true,
    allow_negative_numbers = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, the program trains.
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train the network (the default).
    Train(TrainArgs),
    /// Train many networks at once over a grid of widths, rates and initial scales, and
    /// report how often each cell's networks learn.
    Population(population::PopulationArgs),
    /// Sweep the batch size and time both backends: where does the GPU pay off?
    Scale(scale::ScaleArgs),
    /// Answer for points with a saved model, on either backend.
    Predict(tools::PredictArgs),
    /// Draw a saved model's decision boundary (and its loss curve, if saved with it).
    Plot(tools::PlotArgs),
    /// Serve a live page that trains as you watch: http://127.0.0.1:8080/ by default.
    Serve(serve::ServeArgs),
    /// List the adapters wgpu sees, their limits, and which one `--backend gpu` takes.
    Info(tools::InfoArgs),
    /// Check every kernel and whole epochs on this GPU against the CPU reference.
    Check(tools::CheckArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The GPU when an adapter exists, else the CPU (said on stderr).
    Auto,
    /// WGSL compute shaders through wgpu.
    Gpu,
    /// The fast CPU backend (vectorised, on every core).
    Cpu,
}

pub(crate) fn positive_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a whole number ≥ 1, got {s:?}")),
    }
}

pub(crate) fn positive_usize(s: &str) -> Result<usize, String> {
    positive_u64(s).and_then(|v| usize::try_from(v).map_err(|_| format!("{v} is too large")))
}

pub(crate) fn positive_f32(s: &str) -> Result<f32, String> {
    match (s.parse::<f32>(), s.parse::<f64>()) {
        (Ok(v), _) if v.is_finite() && v >= f32::MIN_POSITIVE => Ok(v),
        // A positive number that rounds to 0 or to a denormal in f32 (which GPUs flush to 0).
        (_, Ok(w)) if w > 0.0 && w < f32::MIN_POSITIVE as f64 => {
            Err(format!("{s} is too small for f32; the smallest allowed is {:e}", f32::MIN_POSITIVE))
        }
        (_, Ok(w)) if w.is_finite() && w > 0.0 => Err(format!("{s} is too large for f32 (at most {:e})", f32::MAX)),
        _ => Err(format!("expected a finite number > 0, got {s:?}")),
    }
}

/// The largest `--noise`: past it the four corners are lost in the noise, and products of
/// the inputs with the weights near f32's range.
pub const MAX_NOISE: f32 = 1e6;

pub(crate) fn noise_sigma(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_NOISE).contains(&v) => Ok(v),
        Ok(v) if v > MAX_NOISE => Err(format!("{s} is more noise than the data can carry; at most {MAX_NOISE:e}")),
        _ => Err(format!("expected a finite number ≥ 0, got {s:?}")),
    }
}

pub(crate) fn hidden_width(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (1..=MAX_HIDDEN).contains(&v) => Ok(v),
        _ => Err(format!("expected a width from 1 to {MAX_HIDDEN} (the widest the kernels support), got {s:?}")),
    }
}

/// Parses the process's arguments; a usage error becomes one line and exit status 2.
pub fn parse() -> Result<Cli, Error> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => e.exit(),
            _ => Err(Error::Input(format!("{} (see --help)", one_line(&e.to_string())))),
        },
    }
}

/// The parser's message in one line: its lines joined (a missing argument is named on the
/// line after "were not provided:"), without the usage and the "try --help" tail.
fn one_line(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let joined = kept.join(" ");
    let joined = joined.trim_start_matches("error: ");
    if joined.is_empty() {
        "bad usage".into()
    } else {
        joined.to_string()
    }
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Some(Command::Train(args)) => train::train_command(&args),
        Some(Command::Population(args)) => population::population_command(&args),
        Some(Command::Scale(args)) => scale::scale_command(&args),
        Some(Command::Predict(args)) => tools::predict_command(&args),
        Some(Command::Plot(args)) => tools::plot_command(&args),
        Some(Command::Info(args)) => tools::info_command(&args),
        Some(Command::Serve(args)) => serve::serve_command(&args),
        Some(Command::Check(args)) => tools::check_command(&args),
        None => train::train_command(&cli.train),
    }
}

/// Where progress lines go: stdout normally, stderr under --json.
pub(crate) fn say(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// Warns, on stderr, of the GPU options given (`(name, given)`) to a run that has no GPU.
pub(crate) fn warn_gpu_only(options: &[(&str, bool)]) {
    let ignored: Vec<&str> = options.iter().filter_map(|&(name, given)| given.then_some(name)).collect();
    if !ignored.is_empty() {
        let verb = if ignored.len() == 1 { "applies" } else { "apply" };
        eprintln!("warning: {} {verb} only to the GPU; ignored on the CPU", ignored.join(", "));
    }
}

/// Opens the GPU for `backend`; `None` means train on the CPU.
pub(crate) fn open_gpu(backend: Backend, adapter: Option<&str>) -> Result<Option<Gpu>, Error> {
    match backend {
        Backend::Cpu => Ok(None),
        Backend::Gpu => Gpu::new(adapter).map(Some),
        Backend::Auto => match Gpu::new(adapter) {
            Ok(gpu) => Ok(Some(gpu)),
            Err(Error::NoAdapter(why)) => {
                eprintln!("warning: {why}; training on the CPU");
                Ok(None)
            }
            Err(e) => Err(e),
        },
    }
}

/// Every value parser on arbitrary text: a value or a one-line message, never a panic, and
/// a value only when it is within what the parser promises.
#[cfg(test)]
mod parser_properties {
    use proptest::prelude::*;

    use super::*;

    fn one_line(r: &Result<impl std::fmt::Debug, String>) -> bool {
        r.as_ref().err().is_none_or(|e| !e.is_empty() && !e.contains('\n'))
    }

    /// Arbitrary text, and text shaped like numbers (where the edge cases are).
    fn texts() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[-+]?[0-9]{0,40}(\\.[0-9]{0,10})?([eE][-+]?[0-9]{1,4})?",
            prop::sample::select(vec!["inf", "-inf", "NaN", "1e-46", "1e39", "0", "-0", " 1", "1,2", ""])
                .prop_map(String::from),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn numbers(s in texts()) {
            let r = positive_u64(&s);
            prop_assert!(one_line(&r));
            prop_assert!(r.is_err() || r.unwrap() >= 1);
            let r = positive_usize(&s);
            prop_assert!(one_line(&r));
            let r = positive_f32(&s);
            prop_assert!(one_line(&r));
            if let Ok(v) = r { prop_assert!(v.is_finite() && v >= f32::MIN_POSITIVE); }
            let r = noise_sigma(&s);
            prop_assert!(one_line(&r));
            if let Ok(v) = r { prop_assert!((0.0..=MAX_NOISE).contains(&v)); }
            let r = hidden_width(&s);
            prop_assert!(one_line(&r));
            if let Ok(v) = r { prop_assert!((1..=MAX_HIDDEN).contains(&v)); }
        }

        #[test]
        fn points(a in texts(), b in texts(), raw in any::<String>()) {
            for s in [format!("{a},{b}"), raw] {
                let r = tools::point(&s);
                prop_assert!(one_line(&r));
                if let Ok(p) = r { prop_assert!(p.iter().all(|x| x.is_finite())); }
            }
        }
    }
}
