//! Weight files: the 2-H-1 form of the math note (`{"w1", "b1", "w2", "b2"}`), read always
//! and written for the 2-H-1 sigmoid net on raw x1, x2 trained by plain SGD, and the layered
//! form for every other model:
//!
//! ```json
//! {"format": "xorgpu-mlp", "version": 1, "activation": "tanh",
//!  "features": ["x1", "x2"], "domain": [-6, 6],
//!  "layers": [{"w": [[..], ..], "b": [[..], ..]}, ..],
//!  "optimizer": {"kind": "adam", "lr": 0.03, ..}, "optimizer_state": {"step": 300, "m": [..], "v": [..]}}
//! ```
//!
//! Each `w` is `d_l × d_{l−1}` and each `b` is `d_l × 1`, nested row-major. A model without
//! `"features"` reads its `d₀` inputs as the columns `x1 … xd` of the user's data. An old
//! reader finds no `"w1"` in a layered file, so it cannot mistake one for a 2-H-1 net.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::optim::{OptState, Optimizer};
use super::{Activation, Mlp, Net};
use crate::data::features::{self, Feature};
use crate::data::playground::DataSet;
use crate::files::write_atomically;
use crate::model::{flatten, read_bounded, rows, Params};
use crate::Error;

/// The largest |x| a picture's domain may reach: the playground's sets live in ±6, and a
/// square wider than this draws nothing but a blur (and its ticks overflow).
pub const MAX_DOMAIN: f32 = 1e6;

/// The layered format's name and version.
pub const FORMAT: &str = "xorgpu-mlp";
pub const VERSION: u64 = 1;

/// A trained model: the parameters, what its inputs are, where its data lives, and the
/// optimizer that trained it with its state.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub mlp: Mlp,
    /// The inputs computed from raw (x1, x2); `None`: the columns `x1 … xd` as given.
    pub features: Option<Vec<Feature>>,
    /// The square `[lo, hi]²` pictures show.
    pub domain: [f32; 2],
    /// `None` for a file that does not say (a 2-H-1 file: plain SGD).
    pub optimizer: Option<Optimizer>,
    pub state: OptState,
    /// The loss curve a file saved by `--save` carries (empty where there is none).
    pub curve: Vec<(u64, f32)>,
}

impl Model {
    /// A model whose inputs are raw x1, x2 on the corners' domain, trained by plain SGD.
    pub fn classic(params: &Params) -> Self {
        Model {
            mlp: Mlp::from_params(params),
            features: Some(features::RAW.to_vec()),
            domain: DataSet::Corners.domain(),
            optimizer: None,
            state: OptState::default(),
            curve: Vec::new(),
        }
    }

    /// Whether the 2-H-1 form holds everything: the 2-H-1 sigmoid net on raw x1, x2 by plain SGD.
    pub fn fits_classic_form(&self) -> bool {
        self.mlp.net.classic_hidden().is_some()
            && self.features.as_deref() == Some(&features::RAW[..])
            && self.optimizer.is_none_or(|o| o.is_plain_sgd())
    }

    /// Reads a weight file of either form; every shape and number is checked, and a
    /// problem is named with the layer and the shapes.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let name = path.display();
        let text = read_bounded(path).map_err(|e| Error::Input(format!("cannot read weights file {name}: {e}")))?;
        Self::from_json(&text).map_err(|e| Error::Input(format!("weights file {name}: {e}")))
    }

    /// Parses either form; see [`Model::load`].
    pub fn from_json(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let obj = doc.as_object().ok_or("not a JSON object")?;
        // Only for drawing, but a curve that is there and unreadable is said, not dropped.
        let curve = match obj.get("loss_curve") {
            None | Some(Value::Null) => Vec::new(),
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|_| "\"loss_curve\" must be a list of [epoch, loss] pairs".to_string())?,
        };
        let domain = match obj.get("domain") {
            None => DataSet::Corners.domain(),
            Some(d) => {
                let d: [f32; 2] = serde_json::from_value(d.clone()).map_err(|_| "\"domain\" must be [lo, hi]")?;
                if !(d[0].is_finite() && d[1].is_finite() && d[0] < d[1]) {
                    return Err(format!("\"domain\" {d:?} is not an interval lo < hi"));
                }
                if d[0].abs() > MAX_DOMAIN || d[1].abs() > MAX_DOMAIN {
                    return Err(format!("\"domain\" {d:?} reaches past ±{MAX_DOMAIN:e}, past any picture's use"));
                }
                d
            }
        };
        if !obj.contains_key("layers") {
            let params = Params::from_json(text)?;
            // What `--save` writes beside the weights must agree with them.
            if let Some(h) = obj.get("hidden").filter(|h| !h.is_null()) {
                if h.as_u64() != Some(params.hidden as u64) {
                    return Err(format!("\"hidden\" is {h}, but \"w1\" has {} rows", params.hidden));
                }
            }
            // A file `--save` wrote says the rate it trained at: resuming continues at it.
            let optimizer = match obj.get("lr").and_then(Value::as_f64) {
                Some(lr) => {
                    let o = Optimizer::sgd(lr as f32);
                    o.check()?;
                    Some(o)
                }
                None => None,
            };
            return Ok(Model { domain, curve, optimizer, ..Model::classic(&params) });
        }
        if obj.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(format!("a layered weight file needs \"format\": \"{FORMAT}\""));
        }
        match obj.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            Some(v) => return Err(format!("format version {v} is not one this program reads (it reads {VERSION})")),
            None => return Err(format!("a layered weight file needs \"version\": {VERSION}")),
        }
        let activation: Activation = match obj.get("activation") {
            None => return Err("missing \"activation\" (sigmoid, tanh or relu)".into()),
            Some(a) => serde_json::from_value(a.clone())
                .map_err(|_| format!("\"activation\" {a} is not one of sigmoid, tanh, relu"))?,
        };
        let layers = obj.get("layers").and_then(Value::as_array).ok_or("\"layers\" must be a list")?;
        let mut widths = Vec::new();
        let mut params = Vec::new();
        for (k, layer) in layers.iter().enumerate() {
            let l = k + 1;
            let matrix = |key: &str| -> Result<Vec<Vec<f64>>, String> {
                let m = layer.get(key).ok_or(format!("layer {l} has no \"{key}\""))?;
                serde_json::from_value(m.clone())
                    .map_err(|_| format!("layer {l}'s \"{key}\" is not a matrix of numbers"))
            };
            let w = matrix("w")?;
            let rows_l = w.len();
            let cols = w.first().map_or(0, Vec::len);
            if rows_l == 0 || cols == 0 {
                return Err(format!("layer {l}'s \"w\" is empty"));
            }
            if let Some(&prev) = widths.last() {
                if cols != prev {
                    return Err(format!(
                        "layer {l}'s \"w\" is {rows_l} × {cols}, but layer {} has {prev} outputs: the layers do not chain",
                        l - 1
                    ));
                }
            } else {
                widths.push(cols);
            }
            params.extend(flatten(&format!("layers[{k}].w"), &w, rows_l, cols)?);
            params.extend(flatten(&format!("layers[{k}].b"), &matrix("b")?, rows_l, 1)?);
            widths.push(rows_l);
        }
        let net = Net::new(widths, activation)?;
        if let Some(w) = obj.get("layers_widths").filter(|w| !w.is_null()) {
            if serde_json::from_value::<Vec<usize>>(w.clone()).ok().as_deref() != Some(&net.widths[..]) {
                return Err(format!(
                    "\"layers_widths\" is {w}, but the layers are {}",
                    net.widths.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let features = match obj.get("features") {
            None | Some(Value::Null) => None,
            Some(f) => {
                let names: Vec<String> =
                    serde_json::from_value(f.clone()).map_err(|_| "\"features\" must be a list of names")?;
                let list = features::parse_list(&names.join(","))?;
                if list.len() != net.inputs() {
                    return Err(format!(
                        "{} features ({}) but the first layer takes {} inputs",
                        list.len(),
                        features::describe(&list),
                        net.inputs()
                    ));
                }
                Some(list)
            }
        };
        let optimizer: Option<Optimizer> = match obj.get("optimizer") {
            None | Some(Value::Null) => None,
            Some(o) => Some(serde_json::from_value(o.clone()).map_err(|e| format!("\"optimizer\": {e}"))?),
        };
        let state: OptState = match obj.get("optimizer_state") {
            None | Some(Value::Null) => OptState::default(),
            Some(s) => serde_json::from_value(s.clone()).map_err(|e| format!("\"optimizer_state\": {e}"))?,
        };
        if let Some(o) = &optimizer {
            o.check()?;
            if state != OptState::default() {
                state.check(o.kind, net.param_count())?;
            }
        }
        Ok(Model { mlp: Mlp { net, params }, features, domain, optimizer, state, curve })
    }

    /// The JSON of the file, `extra` fields (what produced it) beside the model's.
    pub fn to_json(&self, extra: Map<String, Value>) -> Value {
        let mut doc = extra;
        let net = &self.mlp.net;
        doc.insert("domain".into(), json!(self.domain));
        if self.fits_classic_form() {
            let p = self.mlp.to_params().expect("a 2-H-1 net");
            doc.insert("hidden".into(), json!(p.hidden));
            doc.insert("w1".into(), rows(&p.w1, 2).into());
            doc.insert("b1".into(), rows(&p.b1, 1).into());
            doc.insert("w2".into(), rows(&p.w2, p.hidden).into());
            doc.insert("b2".into(), rows(&p.b2, 1).into());
        } else {
            doc.insert("format".into(), json!(FORMAT));
            doc.insert("version".into(), json!(VERSION));
            doc.insert("layers_widths".into(), json!(net.widths));
            doc.insert("activation".into(), json!(net.activation));
            doc.insert("features".into(), json!(self.features));
            let layers: Vec<Value> = net
                .shapes()
                .map(|s| {
                    json!({
                        "w": rows(&self.mlp.params[s.w..s.b], s.cols),
                        "b": rows(&self.mlp.params[s.b..s.b + s.rows], 1),
                    })
                })
                .collect();
            doc.insert("layers".into(), layers.into());
            doc.insert("optimizer".into(), json!(self.optimizer));
            doc.insert("optimizer_state".into(), json!(self.state));
        }
        doc.insert("loss_curve".into(), json!(self.curve));
        Value::Object(doc)
    }

    /// Writes the file atomically (a temporary file, then a rename).
    pub fn save(&self, path: &Path, extra: Map<String, Value>) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(&self.to_json(extra)).expect("a model serialises");
        write_atomically(path, text.as_bytes())
    }

    /// The network's inputs for raw data (`d × N`): the features computed from (x1, x2),
    /// or the columns as they are. A mismatch of widths is named.
    pub fn inputs_of(&self, raw: &crate::data::Dataset) -> Result<crate::data::Dataset, Error> {
        inputs_for(&self.mlp.net, self.features.as_deref(), raw)
    }
}

/// The inputs a net with `features` takes from raw data (see [`Model::inputs_of`]).
pub fn inputs_for(
    net: &Net,
    features: Option<&[Feature]>,
    raw: &crate::data::Dataset,
) -> Result<crate::data::Dataset, Error> {
    check_inputs(net, features, raw.inputs())?;
    Ok(match features {
        Some(list) => features::expand(raw, list),
        None => raw.clone(),
    })
}

/// [`inputs_for`], taking the raw data: where the inputs are the raw columns themselves
/// they are returned as they are, not copied (a batch of millions is hundreds of MB).
pub fn into_inputs(
    net: &Net,
    features: Option<&[Feature]>,
    raw: crate::data::Dataset,
) -> Result<crate::data::Dataset, Error> {
    check_inputs(net, features, raw.inputs())?;
    Ok(match features {
        Some(list) if list != features::RAW => features::expand(&raw, list),
        _ => raw,
    })
}

/// Whether raw data of `d` input columns can feed `net` through `features`: the one place
/// that says, in a line naming both numbers, where they do not match.
pub fn check_inputs(net: &Net, features: Option<&[Feature]>, d: usize) -> Result<(), Error> {
    match features {
        Some(list) => {
            if d != 2 {
                return Err(Error::Input(format!(
                    "the features ({}) are computed from x1, x2, but the data has {d} input column{}",
                    features::describe(list),
                    if d == 1 { "" } else { "s" }
                )));
            }
            if list.len() != net.inputs() {
                return Err(Error::Input(format!(
                    "the network takes {} inputs but {} features are chosen ({})",
                    net.inputs(),
                    list.len(),
                    features::describe(list)
                )));
            }
            Ok(())
        }
        None if d != net.inputs() => Err(Error::Input(format!(
            "the network takes {} inputs but the data has {d} input column{}",
            net.inputs(),
            if d == 1 { "" } else { "s" }
        ))),
        None => Ok(()),
    }
}
