//! The file parsers on arbitrary bytes and arbitrary text: weight files and CSV data either
//! give a value that keeps their promises or a one-line error, never a panic.

use proptest::prelude::*;
use xorgpu::data::{read_points, Dataset};
use xorgpu::model::Params;

fn one_line(e: &str) -> bool {
    !e.is_empty() && !e.contains('\n')
}

/// Text shaped like the files, with the usual damage: numbers, commas, brackets, line ends.
fn csv_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(x1,x2,y|x1,x2)?(\r?\n([-+]?[0-9.eE]{0,8}|nan|inf|\"1\")?(,[-+]?[0-9.eE]{0,8}){0,3}){0,6}\r?\n?",
    ]
}

fn json_like() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\{(\"(w1|b1|w2|b2|x)\": ?\\[(\\[[-0-9.e, ]{0,12}\\],? ?){0,3}\\],? ?){0,5}\\}",]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn weight_files(text in json_like()) {
        match Params::from_json(&text) {
            Ok(p) => {
                prop_assert!(p.hidden >= 1 && p.iter().all(|w| w.is_finite()));
                prop_assert_eq!(p.w1.len(), 2 * p.hidden);
            }
            Err(e) => prop_assert!(one_line(&e), "{e:?}"),
        }
    }

    #[test]
    fn csv_files(text in csv_like(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        for (i, content) in [text.into_bytes(), bytes].into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.csv"));
            std::fs::write(&path, &content).unwrap();
            match Dataset::from_csv(&path) {
                Ok(d) => {
                    prop_assert!(!d.is_empty());
                    prop_assert!(d.t.iter().all(|&t| t == 0.0 || t == 1.0));
                    prop_assert!(d.xt.iter().all(|x| x.is_finite()));
                }
                Err(e) => prop_assert!(one_line(&e.to_string()), "{e}"),
            }
            match read_points(&path) {
                Ok(p) => prop_assert!(p.0.xt.iter().chain(&p.0.t).all(|x| x.is_finite())),
                Err(e) => prop_assert!(one_line(&e.to_string()), "{e}"),
            }
        }
    }
}
