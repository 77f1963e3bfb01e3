//! e^x, tanh and ln for f32 arguments, computed in f64 and rounded once: the correctly
//! rounded f32 result except where the exact value lies within about 1e-16 of a halfway
//! point between two floats (a chance of about 1e-8 a call). Branch-free polynomials, so a
//! loop over SIMD lanes vectorises, where libm's calls do not.
//!
//! The reference computes its f32 functions the same way through libm's f64 functions
//! (`via_f64` in `super`), so the two agree bit for bit in practice: the population's lanes
//! ([`super::population`]) then train exactly the reference's networks.

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2^52: adding it rounds to an integer and leaves it in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Below this e^x is under half the smallest f32 denormal: its f32 is 0.
const EXP_FLOOR: f64 = -120.0;

/// `e^r − 1` for |r| ≤ ln2/2: the Taylor series to r¹³ (the next term is under 1e-17
/// relative there), Horner's order.
#[inline(always)]
fn expm1_reduced(r: f64) -> f64 {
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let mut p = C[11];
    for &c in C[..11].iter().rev() {
        p = p.mul_add(r, c);
    }
    (r * r).mul_add(p, r)
}

/// e^x for x ≤ 0 (all a sigmoid and tanh ask), in f64: range reduction by powers of two,
/// then `expm1_reduced`. A NaN stays NaN.
#[inline(always)]
pub fn exp_neg_f64(x: f64) -> f64 {
    let x = if x < EXP_FLOOR { EXP_FLOOR } else { x };
    let t = x * LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let scale = f64::from_bits((t.to_bits() << 52).wrapping_add(1023 << 52));
    (1.0 + expm1_reduced(r)) * scale
}

/// e^x for f32 x ≤ 0, rounded once from f64.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    exp_neg_f64(x as f64) as f32
}

/// σ(z) = 1 / (1 + e^(−z)) in the reference's f32 operations ([`super::sigmoid_scalar`]),
/// with this module's exp.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    let e = exp_neg(-z.abs());
    if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// tanh z = −m / (2 + m) with m = e^(−2|z|) − 1, the sign put back; m comes from the
/// series where |2z| ≤ ln2/2 (no cancellation near 0) and from exp beyond.
#[inline(always)]
pub fn tanh(z: f32) -> f32 {
    let a = (z as f64).abs();
    let x = -2.0 * a;
    let m = if x > -0.5 * LN2_HI { expm1_reduced(x) } else { exp_neg_f64(x) - 1.0 };
    ((-m / (2.0 + m)) as f32).copysign(z)
}

/// ln x for a positive normal f32 x: x = 2^e·m with m in [√½, √2), then
/// ln m = 2·atanh(s), s = (m − 1)/(m + 1), as a series in s² to s²², in f64. A NaN gives
/// a NaN (its exponent field alone would read as 2^128).
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000) as f64;
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p: f64 = 1.0 / 23.0;
    for k in (0..11).rev() {
        p = p.mul_add(s2, 1.0 / (2 * k + 1) as f64);
    }
    let e = e as f64;
    let ln_m = 2.0 * s * p;
    e.mul_add(LN2_HI, e.mul_add(LN2_LO, ln_m)) as f32
}

#[cfg(test)]
mod tests {
    /// Every f32 in the ranges the trainer uses, stepped through by bit patterns.
    fn floats(lo: f32, hi: f32, step: u32) -> impl Iterator<Item = f32> {
        (lo.to_bits()..=hi.to_bits()).step_by(step as usize).map(f32::from_bits)
    }

    #[test]
    fn exp_is_libms_f64_exp_rounded() {
        let mut wrong = 0;
        let mut count = 0;
        // Negative floats: from −0 down to −120 (bit patterns increase with magnitude).
        for x in floats(-0.0, -120.0, 97) {
            count += 1;
            let want = (x as f64).exp() as f32;
            if super::exp_neg(x).to_bits() != want.to_bits() {
                wrong += 1;
            }
        }
        assert_eq!(wrong, 0, "{wrong} of {count} differ");
        assert_eq!(super::exp_neg(f32::NEG_INFINITY), 0.0);
        assert_eq!(super::exp_neg(-1e30), 0.0);
        assert!(super::exp_neg(f32::NAN).is_nan());
        assert_eq!(super::exp_neg(-0.0), 1.0);
    }

    #[test]
    fn tanh_is_libms_f64_tanh_rounded() {
        let mut wrong = 0;
        for x in floats(0.0, 30.0, 61).chain(floats(-0.0, -30.0, 61)) {
            let want = (x as f64).tanh() as f32;
            if super::tanh(x).to_bits() != want.to_bits() {
                wrong += 1;
            }
        }
        assert_eq!(wrong, 0);
        assert!(super::tanh(f32::NAN).is_nan());
        assert_eq!(super::tanh(f32::INFINITY), 1.0);
        assert_eq!(super::tanh(f32::NEG_INFINITY), -1.0);
    }

    #[test]
    fn ln_is_libms_f64_ln_rounded() {
        let mut wrong = 0;
        for x in floats(f32::MIN_POSITIVE, f32::MAX, 211) {
            let want = (x as f64).ln() as f32;
            if super::ln(x).to_bits() != want.to_bits() {
                wrong += 1;
            }
        }
        assert_eq!(wrong, 0);
        assert_eq!(super::ln(1.0), 0.0);
        assert!(super::ln(f32::NAN).is_nan());
    }
}
