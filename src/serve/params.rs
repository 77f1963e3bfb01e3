//! A run's setup as the page sends it: the query string of the page's own address
//! (`?dataset=spiral&hidden=8,8&activation=tanh&…`), checked by the command line's own
//! parsers, so a value is accepted here exactly when `xorgpu train` accepts it. Every
//! problem names its parameter.

use clap::ValueEnum;

use crate::backend::KernelChoice;
use crate::cli::{noise_sigma, non_negative_f32, positive_f32, positive_u64, positive_usize, unit_interval};
use crate::data::features::{self, Feature};
use crate::data::playground::DataSet;
use crate::net::optim::{Optimizer, OptimizerKind};
use crate::net::{Activation, Net, MAX_HIDDEN_LAYERS, MAX_WIDTH};

/// Where a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Cpu,
    Gpu,
}

/// Everything a run is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct RunParams {
    pub backend: Where,
    pub dataset: DataSet,
    /// Training samples: every epoch is full-batch.
    pub batch: usize,
    pub noise: f32,
    /// Test samples (0: none), drawn on their own stream.
    pub test: usize,
    pub features: Vec<Feature>,
    pub net: Net,
    pub opt: Optimizer,
    pub seed: u64,
    pub data_seed: u64,
    pub init_scale: f32,
    /// Pause after this many epochs (None: train until paused).
    pub epochs: Option<u64>,
    pub kernels: Option<KernelChoice>,
}

/// The parameters the page knows, in the order the help lists them.
pub const NAMES: [&str; 20] = [
    "backend",
    "dataset",
    "batch",
    "noise",
    "test",
    "features",
    "hidden",
    "activation",
    "optimizer",
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "l2",
    "seed",
    "data_seed",
    "init_scale",
    "epochs",
    "kernels",
];

/// The most test samples the page takes (they are scored at every frame).
pub const MAX_TEST: usize = 100_000;

/// Reads `pairs` (a query string's, in order), with `default_backend` where none is named.
/// A parameter given twice, one this page does not know, or a value the command line would
/// refuse is named in the error.
pub fn parse(pairs: &[(String, String)], default_backend: Where) -> Result<RunParams, String> {
    check_names(pairs, &NAMES, "a run")?;
    let get = |k: &str| pairs.iter().find(|(j, _)| j == k).map(|(_, v)| v.as_str());
    fn value<T>(k: &str, v: Option<&str>, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
        v.map(|v| parse(v.trim()).map_err(|e| format!("{k}: {e}"))).transpose()
    }
    fn choice<T: ValueEnum>(k: &str, v: Option<&str>) -> Result<Option<T>, String> {
        value(k, v, |s| {
            T::from_str(s, true).map_err(|_| {
                let names: Vec<String> = T::value_variants()
                    .iter()
                    .filter_map(|v| v.to_possible_value())
                    .map(|p| p.get_name().into())
                    .collect();
                format!("{s:?} is not one of {}", names.join(", "))
            })
        })
    }
    let backend = choice("backend", get("backend"))?.unwrap_or(default_backend);
    let dataset = choice("dataset", get("dataset"))?.unwrap_or(DataSet::Corners);
    let batch = value("batch", get("batch"), positive_usize)?.unwrap_or(4);
    let noise = value("noise", get("noise"), noise_sigma)?.unwrap_or(if dataset.is_playground() { 0.0 } else { 0.1 });
    dataset.check_noise(noise).map_err(|e| format!("noise: {}", e.to_string().trim_start_matches("--noise ")))?;
    let test = value("test", get("test"), |s| match s.parse::<usize>() {
        Ok(m) if m <= MAX_TEST => Ok(m),
        _ => Err(format!("expected a number of test samples from 0 to {MAX_TEST}, got {s:?}")),
    })?
    .unwrap_or(0);
    let features = value("features", get("features"), features::parse_list)?.unwrap_or_else(|| features::RAW.to_vec());
    let hidden = value("hidden", get("hidden"), hidden_widths)?.unwrap_or_else(|| vec![2]);
    let activation = choice("activation", get("activation"))?.unwrap_or(Activation::Sigmoid);
    let widths: Vec<usize> = std::iter::once(features.len()).chain(hidden).chain([1]).collect();
    let net = Net::new(widths, activation).map_err(|e| format!("hidden: {e}"))?;
    let kind = choice("optimizer", get("optimizer"))?.unwrap_or(OptimizerKind::Sgd);
    let base = Optimizer::defaults(kind);
    let opt = Optimizer {
        lr: value("lr", get("lr"), positive_f32)?.unwrap_or(base.lr),
        momentum: value("momentum", get("momentum"), unit_interval)?.unwrap_or(base.momentum),
        beta1: value("beta1", get("beta1"), unit_interval)?.unwrap_or(base.beta1),
        beta2: value("beta2", get("beta2"), unit_interval)?.unwrap_or(base.beta2),
        eps: value("eps", get("eps"), positive_f32)?.unwrap_or(base.eps),
        l2: value("l2", get("l2"), non_negative_f32)?.unwrap_or(0.0),
        ..base
    };
    opt.check().map_err(|e| format!("optimizer: {e}"))?;
    let seed = value("seed", get("seed"), |s| {
        s.parse::<u64>().map_err(|_| format!("expected a whole number ≥ 0, got {s:?}"))
    })?
    .unwrap_or(1);
    let data_seed = value("data_seed", get("data_seed"), |s| {
        s.parse::<u64>().map_err(|_| format!("expected a whole number ≥ 0, got {s:?}"))
    })?
    .unwrap_or(seed);
    let init_scale = value("init_scale", get("init_scale"), positive_f32)?.unwrap_or(1.0);
    let epochs = value("epochs", get("epochs"), positive_u64)?;
    let kernels = choice("kernels", get("kernels"))?;
    Ok(RunParams {
        backend,
        dataset,
        batch,
        noise,
        test,
        features,
        net,
        opt,
        seed,
        data_seed,
        init_scale,
        epochs,
        kernels,
    })
}

/// Refuses a name `pairs` has that is not in `known`, or one it has twice: the answer for
/// `what` ("a run") names it.
pub fn check_names(pairs: &[(String, String)], known: &[&str], what: &str) -> Result<(), String> {
    for (i, (k, _)) in pairs.iter().enumerate() {
        if !known.contains(&k.as_str()) {
            return Err(format!("{}: not a parameter of {what} (known: {})", k.escape_debug(), known.join(", ")));
        }
        if pairs[..i].iter().any(|(j, _)| j == k) {
            return Err(format!("{}: given twice", k.escape_debug()));
        }
    }
    Ok(())
}

/// The hidden widths: `8,8`, or nothing (logistic regression).
fn hidden_widths(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let widths: Vec<usize> = s
        .split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(v) if (1..=MAX_WIDTH).contains(&v) => Ok(v),
            _ => Err(format!("{:?} in {s:?} is not a width (a whole number 1 to {MAX_WIDTH})", w.trim())),
        })
        .collect::<Result<_, _>>()?;
    if widths.len() > MAX_HIDDEN_LAYERS {
        return Err(format!("{} hidden layers; at most {MAX_HIDDEN_LAYERS}", widths.len()));
    }
    Ok(widths)
}

impl RunParams {
    /// The training samples' source in words, as the command line says it.
    pub fn source(&self) -> String {
        match self.dataset {
            DataSet::Corners if self.batch == 4 => "the XOR table".into(),
            DataSet::Corners => format!("noisy XOR samples, σ = {}", self.noise),
            d => format!("{}, noise {}", d.name(), self.noise),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn defaults_are_the_xor_table_and_2_2_1_sigmoid_at_lr_2() {
        let p = parse(&[], Where::Cpu).unwrap();
        assert_eq!(p.net, Net::classic(2));
        assert_eq!((p.dataset, p.batch, p.test, p.seed, p.data_seed), (DataSet::Corners, 4, 0, 1, 1));
        assert!(p.opt.is_plain_sgd() && p.opt.lr == 2.0);
        assert_eq!(p.source(), "the XOR table");
    }

    #[test]
    fn every_bad_value_names_its_parameter() {
        for (query, name) in [
            ("lr=0", "lr"),
            ("lr=abc", "lr"),
            ("batch=0", "batch"),
            ("hidden=0", "hidden"),
            ("hidden=1,1,1,1,1,1,1,1,1", "hidden"),
            ("hidden=300", "hidden"),
            ("dataset=moons", "dataset"),
            ("dataset=spiral&noise=0.9", "noise"),
            ("features=x3", "features"),
            ("activation=gelu", "activation"),
            ("optimizer=lbfgs", "optimizer"),
            ("beta1=1", "beta1"),
            ("test=-1", "test"),
            ("test=100001", "test"),
            ("seed=-1", "seed"),
            ("epochs=0", "epochs"),
            ("backend=tpu", "backend"),
            ("frobnicate=1", "frobnicate"),
            ("lr=1&lr=2", "lr"),
        ] {
            let e = parse(&q(query), Where::Cpu).unwrap_err();
            assert!(e.starts_with(&format!("{name}: ")), "{query}: {e}");
            assert!(!e.contains('\n'), "{query}: {e}");
        }
    }

    #[test]
    fn the_input_width_follows_the_features() {
        let p = parse(&q("features=x1,x2,x1x2&hidden=4,4&activation=tanh&optimizer=adam"), Where::Gpu).unwrap();
        assert_eq!(p.net.widths, vec![3, 4, 4, 1]);
        assert_eq!(p.opt.kind, OptimizerKind::Adam);
        assert_eq!(p.opt.lr, Optimizer::defaults(OptimizerKind::Adam).lr);
        assert_eq!(parse(&q("hidden="), Where::Cpu).unwrap().net.widths, vec![2, 1]);
    }
}
