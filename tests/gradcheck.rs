//! The CPU backward pass against central finite differences of the CPU loss, both in f64:
//! the chain rule as written must be the derivative of the loss as written.

mod common;

use rand::Rng;
use xorgpu::cpu;
use xorgpu::data::Dataset;
use xorgpu::model::Params;

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn backward_matches_finite_differences() {
    let mut rng = common::rng();
    for (h, n) in [(1, 4), (2, 4), (3, 7), (16, 50)] {
        let seed = rng.random();
        let params = Params::init(h, seed).to_f64();
        let data = Dataset::noisy_xor(n, 0.3, seed).unwrap();
        let (xt, t) = (to_f64(&data.xt), to_f64(&data.t));
        let grads = cpu::backward(&params, &xt, &t, &cpu::forward(&params, &xt));
        let analytic: Vec<f64> = grads.iter().collect();
        let flat: Vec<f64> = params.iter().collect();
        let eps = 1e-6;
        for (i, &g) in analytic.iter().enumerate() {
            let at = |delta: f64| {
                let mut v = flat.clone();
                v[i] += delta;
                let p = unflatten(h, &v);
                cpu::loss(&p, &xt, &t)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
            // Central differences err by O(eps²) ≈ 1e-12 plus rounding ≈ 1e-16 / eps.
            let tol = 1e-8 + 1e-6 * numeric.abs();
            assert!(
                (g - numeric).abs() <= tol,
                "H={h} N={n} parameter {i}: backward {g}, finite differences {numeric}"
            );
        }
    }
}

fn unflatten(h: usize, v: &[f64]) -> Params<f64> {
    Params {
        hidden: h,
        w1: v[..2 * h].to_vec(),
        b1: v[2 * h..3 * h].to_vec(),
        w2: v[3 * h..4 * h].to_vec(),
        b2: v[4 * h..].to_vec(),
    }
}
