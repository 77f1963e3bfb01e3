//! The playground's input features, computed from the raw x1, x2 wherever data enters
//! (training, `predict`, `plot`): the network's d₀ inputs are the chosen features in the
//! order given.

use serde::{Deserialize, Serialize};

use super::Dataset;

/// One input feature of the raw point (x1, x2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feature {
    #[serde(rename = "x1")]
    X1,
    #[serde(rename = "x2")]
    X2,
    #[serde(rename = "x1^2")]
    X1Squared,
    #[serde(rename = "x2^2")]
    X2Squared,
    #[serde(rename = "x1*x2")]
    X1X2,
    #[serde(rename = "sin(x1)")]
    SinX1,
    #[serde(rename = "sin(x2)")]
    SinX2,
}

/// Every feature, in the playground's order.
pub const ALL: [Feature; 7] =
    [Feature::X1, Feature::X2, Feature::X1Squared, Feature::X2Squared, Feature::X1X2, Feature::SinX1, Feature::SinX2];

/// The raw inputs themselves: what a net sees when no features are chosen.
pub const RAW: [Feature; 2] = [Feature::X1, Feature::X2];

impl Feature {
    /// The name the command line and the weight file use.
    pub fn name(self) -> &'static str {
        match self {
            Feature::X1 => "x1",
            Feature::X2 => "x2",
            Feature::X1Squared => "x1^2",
            Feature::X2Squared => "x2^2",
            Feature::X1X2 => "x1*x2",
            Feature::SinX1 => "sin(x1)",
            Feature::SinX2 => "sin(x2)",
        }
    }

    /// The feature of one point.
    pub fn of(self, x1: f32, x2: f32) -> f32 {
        match self {
            Feature::X1 => x1,
            Feature::X2 => x2,
            Feature::X1Squared => x1 * x1,
            Feature::X2Squared => x2 * x2,
            Feature::X1X2 => x1 * x2,
            Feature::SinX1 => x1.sin(),
            Feature::SinX2 => x2.sin(),
        }
    }

    /// A name from the command line: the canonical one, or a spelling without symbols
    /// (`x1sq`, `x1x2`, `sinx1`) that needs no quoting in a shell.
    pub fn parse(s: &str) -> Result<Feature, String> {
        let key = s.trim().to_lowercase();
        let found = match key.as_str() {
            "x1" => Feature::X1,
            "x2" => Feature::X2,
            "x1^2" | "x1²" | "x1sq" => Feature::X1Squared,
            "x2^2" | "x2²" | "x2sq" => Feature::X2Squared,
            "x1*x2" | "x1x2" => Feature::X1X2,
            "sin(x1)" | "sinx1" => Feature::SinX1,
            "sin(x2)" | "sinx2" => Feature::SinX2,
            _ => {
                let names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
                return Err(format!("unknown feature {s:?}; the features are {}", names.join(", ")));
            }
        };
        Ok(found)
    }
}

/// Parses a `--features` list (`x1,x2,x1x2`): at least one, none twice.
pub fn parse_list(s: &str) -> Result<Vec<Feature>, String> {
    let list = s.split(',').map(Feature::parse).collect::<Result<Vec<_>, _>>()?;
    for (i, f) in list.iter().enumerate() {
        if list[..i].contains(f) {
            return Err(format!("feature {} is listed twice in {s:?}", f.name()));
        }
    }
    Ok(list)
}

/// The names, comma-separated.
pub fn describe(features: &[Feature]) -> String {
    features.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
}

/// The features of raw points `raw: 2 × N` as the network's inputs `d₀ × N`, labels kept.
/// The raw features alone are the data itself.
pub fn expand(raw: &Dataset, features: &[Feature]) -> Dataset {
    if features == RAW {
        return raw.clone();
    }
    let n = raw.len();
    let (x1, x2) = raw.xt.split_at(n);
    let mut xt = Vec::with_capacity(features.len() * n);
    for f in features {
        xt.extend(x1.iter().zip(&x2[..n]).map(|(&a, &b)| f.of(a, b)));
    }
    Dataset { xt, t: raw.t.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_lists_are_checked() {
        for f in ALL {
            assert_eq!(Feature::parse(f.name()), Ok(f));
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("{:?}", f.name()));
        }
        assert_eq!(
            parse_list("x1, x2,sinx1,x1*x2").unwrap(),
            vec![Feature::X1, Feature::X2, Feature::SinX1, Feature::X1X2]
        );
        assert!(parse_list("x1,x3").unwrap_err().contains("\"x3\""));
        assert!(parse_list("x1,x1").unwrap_err().contains("twice"));
        assert!(parse_list("").is_err());
        assert!(parse_list("x1 x2").unwrap_err().contains("\"x1 x2\""), "inner spaces are not dropped");
        let raw = Dataset::from_rows(&[[1.0, 2.0, 1.0], [-0.5, 3.0, 0.0]]);
        let d = expand(&raw, &[Feature::X1X2, Feature::X2Squared, Feature::SinX1]);
        assert_eq!(d.xt, vec![2.0, -1.5, 4.0, 9.0, 1f32.sin(), (-0.5f32).sin()]);
        assert_eq!(d.t, raw.t);
    }
}
