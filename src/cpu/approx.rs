//! `exp` and `ln` for f32 as branch-free polynomials, so the fast CPU backend's inner loop
//! vectorises (libm's calls do not). Both follow Cephes' `expf`/`logf`: range reduction by
//! powers of two, then a short polynomial.
//!
//! Error bounds, checked in this module's tests over the ranges the trainer uses:
//! [`exp`]: relative error ≤ 4e-7 for x in [ln of the smallest normal f32 (−87.34), 88];
//! below that it returns 0, as a GPU that flushes denormals does, so that a sigmoid built on
//! it gives the clamped log (−100) exactly where the reference's denormal σ does.
//! [`ln`]: error ≤ 5e-7 · max(1, |ln x|) for normal positive x (absolute near 1, relative
//! far from it, where f32's own rounding of the result dominates).

// The constants are shared with the AVX2 forms in `super::tiny`, so both evaluate the same
// polynomials.

pub const LOG2_E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in a part exact in f32 and the rest (Cody–Waite), so x − n·ln 2 keeps its bits.
pub const LN2_HI: f32 = 0.693_359_4;
pub const LN2_LO: f32 = -2.121_944_4e-4;
/// The argument below which [`exp`] returns 0: ln of the smallest normal f32, below
/// which e^x would be a denormal (and 2^n's exponent field would underflow).
pub const EXP_MIN: f32 = -87.336_55;
/// 1.5·2^23: adding it rounds to an integer and leaves it in the low mantissa bits.
pub const ROUND_MAGIC: f32 = 12_582_912.0;
/// `p(r) = EXP_P[0] + EXP_P[1]·r + … + EXP_P[5]·r⁵`, Cephes expf's minimax coefficients, for
/// e^r = 1 + r + r²·p(r) on |r| ≤ ln2/2.
pub const EXP_P: [f32; 6] = [0.5, 1.666_666_5e-1, 4.166_579_6e-2, 8.333_452e-3, 1.398_199_9e-3, 1.987_569_1e-4];
/// Cephes logf's polynomial in f = m − 1, highest power first (Horner's order).
pub const LN_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];

/// e^x. See the module note for the error bound.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Compared before the clamp; a NaN compares false and stays NaN through the rest.
    let flush = x < EXP_MIN;
    let x = x.clamp(EXP_MIN, 88.0);
    // n = round(x·log2 e) by the 1.5·2^23 trick: adding it leaves n in the low mantissa
    // bits, and no float-to-int conversion (whose saturation would stop vectorising).
    let t = x * LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    // e^r on |r| ≤ ln2/2: 1 + r + r²·p(r) with Cephes expf's minimax coefficients for p,
    // evaluated in Estrin's order (pairs, then r², r⁴) rather than Horner's: the same
    // polynomial in about half the dependent steps, which at a few rows are the epoch's
    // critical path.
    let r2 = r * r;
    let r4 = r2 * r2;
    let a = EXP_P[1] * r + EXP_P[0];
    let b = EXP_P[2] + EXP_P[3] * r;
    let c = EXP_P[4] + EXP_P[5] * r;
    let p = a + b * r2 + c * r4;
    let er = p * r2 + r + 1.0;
    // 2^n: n's bits shifted into the exponent field, plus the bias.
    let e = er * f32::from_bits((t.to_bits() << 23).wrapping_add(127 << 23));
    if flush {
        0.0
    } else {
        e
    }
}

/// ln x for normal positive x. See the module note for the error bound.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    // The mantissa as m in [0.5, 1).
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    // Move m to [√½, √2) so the polynomial's argument stays small.
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m += m;
    }
    let f = m - 1.0;
    let p = LN_P[1..].iter().fold(LN_P[0], |p, &c| p * f + c);
    let z = f * f;
    let y = f * z * p - 0.5 * z;
    let e = e as f32;
    f + y + e * LN2_LO + e * LN2_HI
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_within_its_bound() {
        let mut worst = 0.0f64;
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = super::EXP_MIN + (88.0 - super::EXP_MIN) * i as f32 / steps as f32;
            let want = (x as f64).exp();
            worst = worst.max(((super::exp(x) as f64 - want) / want).abs());
        }
        assert!(worst <= 4e-7, "worst relative error {worst:e}");
        assert_eq!(super::exp(-87.34), 0.0);
        assert_eq!(super::exp(-1e4), 0.0);
        assert!(super::exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_is_within_its_bound() {
        let mut worst = 0.0f64;
        let mut x = f32::MIN_POSITIVE;
        while x < 1e30 {
            for k in 0..64 {
                let v = x * (1.0 + k as f32 / 64.0);
                let want = (v as f64).ln();
                worst = worst.max((super::ln(v) as f64 - want).abs() / want.abs().max(1.0));
            }
            x *= 1.37;
        }
        for i in 1..=100_000 {
            let v = i as f32 / 100_000.0;
            worst = worst.max((super::ln(v) as f64 - (v as f64).ln()).abs());
        }
        assert!(worst <= 5e-7, "worst error {worst:e}");
    }
}
