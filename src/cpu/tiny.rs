//! A batch of at most eight samples on the CPU: whole epochs in AVX2 registers, the CPU's
//! counterpart of the GPU's `train_tiny`.
//!
//! At four rows an epoch is one chain of dependent steps (two sigmoids, the backward pass,
//! the sums over the samples, the update) with nothing beside it to overlap, so its length
//! is the epoch's time. The general path ([`super::fast`]) leaves the vectorising to the
//! compiler and goes through memory between epochs (weights, per-chunk sums, f64 totals);
//! here the samples sit in the lanes of one 256-bit register, every parameter is held
//! broadcast in a register of its own, a sum over the samples is a three-step butterfly
//! that leaves the total in every lane, and the update is one fused multiply-add, so the
//! next epoch starts without leaving the registers.
//!
//! The exp and ln are [`super::approx`]'s, the same coefficients evaluated with fused
//! multiply-adds: within the bounds stated there (tested against the reference and the
//! general path in `tests/fast_cpu.rs`).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use super::approx::{EXP_MIN, EXP_P, LN2_HI, LN2_LO, LN_P, LOG2_E, ROUND_MAGIC};
use crate::data::Dataset;
use crate::model::Layout;

/// The most samples one epoch here takes: the lanes of one register.
pub const MAX_N: usize = 8;
/// The widest hidden layer compiled here.
pub const MAX_H: usize = 8;

/// Trains `losses.len()` epochs on `data` (at most [`MAX_N`] samples) from the packed
/// weights `w`, writing each epoch's loss (NaN once any sum is not finite, as the general
/// path does), and leaves the final weights in `w`. False, having done nothing, where this
/// CPU lacks AVX2 and FMA or the width or batch is not one this path takes.
pub fn train(hidden: usize, w: &mut [f32], data: &Dataset, lr: f32, losses: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if data.len() > MAX_N || !is_x86_feature_detected!("avx2") || !is_x86_feature_detected!("fma") {
            return false;
        }
        // SAFETY (each arm): the CPU has AVX2 and FMA, checked just above.
        unsafe {
            match hidden {
                1 => epochs::<1>(w, data, lr, losses),
                2 => epochs::<2>(w, data, lr, losses),
                3 => epochs::<3>(w, data, lr, losses),
                4 => epochs::<4>(w, data, lr, losses),
                5 => epochs::<5>(w, data, lr, losses),
                6 => epochs::<6>(w, data, lr, losses),
                7 => epochs::<7>(w, data, lr, losses),
                8 => epochs::<8>(w, data, lr, losses),
                _ => return false,
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (hidden, w, data, lr, losses);
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn splat(x: f32) -> __m256 {
    _mm256_set1_ps(x)
}

/// e^x for x ≤ 0 (all a sigmoid asks): [`super::approx::exp`]'s range reduction and
/// polynomial, Estrin's order, fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_neg(x: __m256) -> __m256 {
    // Below EXP_MIN the result is 0, as the scalar form's (a NaN compares false). A NaN
    // stays NaN (max_ps returns its second operand when either is NaN), so a diverging
    // run's loss turns NaN as the reference's does.
    let flush = _mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(EXP_MIN));
    let x = _mm256_max_ps(splat(EXP_MIN), x);
    let t = _mm256_fmadd_ps(x, splat(LOG2_E), splat(ROUND_MAGIC));
    let n = _mm256_sub_ps(t, splat(ROUND_MAGIC));
    let r = _mm256_fnmadd_ps(n, splat(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, splat(LN2_LO), r);
    let r2 = _mm256_mul_ps(r, r);
    let r4 = _mm256_mul_ps(r2, r2);
    let a = _mm256_fmadd_ps(splat(EXP_P[1]), r, splat(EXP_P[0]));
    let b = _mm256_fmadd_ps(splat(EXP_P[3]), r, splat(EXP_P[2]));
    let c = _mm256_fmadd_ps(splat(EXP_P[5]), r, splat(EXP_P[4]));
    let p = _mm256_fmadd_ps(c, r4, _mm256_fmadd_ps(b, r2, a));
    let er = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), splat(1.0));
    let scale = _mm256_castsi256_ps(_mm256_add_epi32(
        _mm256_slli_epi32::<23>(_mm256_castps_si256(t)),
        _mm256_set1_epi32(127 << 23),
    ));
    _mm256_andnot_ps(flush, _mm256_mul_ps(er, scale))
}

/// σ(z), as [`super::fast`]'s: 1 / (1 + e^(−|z|)) for z ≥ 0, e^z / (1 + e^z) below.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sigmoid(z: __m256) -> __m256 {
    let e = exp_neg(_mm256_or_ps(z, splat(-0.0)));
    let pos = _mm256_div_ps(splat(1.0), _mm256_add_ps(splat(1.0), e));
    _mm256_blendv_ps(_mm256_mul_ps(e, pos), pos, _mm256_cmp_ps::<_CMP_GE_OQ>(z, splat(0.0)))
}

/// ln p clamped at −100 below the smallest normal float, as [`super::approx::ln`] and the
/// general path's clamped log.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn clamped_ln(x: __m256) -> __m256 {
    let bits = _mm256_castps_si256(x);
    let e = _mm256_sub_epi32(
        _mm256_and_si256(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(0xff)),
        _mm256_set1_epi32(126),
    );
    let m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
        _mm256_set1_epi32(0x3f00_0000),
    ));
    let small = _mm256_cmp_ps::<_CMP_LT_OQ>(m, splat(std::f32::consts::FRAC_1_SQRT_2));
    // e − 1 and m + m where m < √½: the mask is all ones (−1) there.
    let e = _mm256_cvtepi32_ps(_mm256_add_epi32(e, _mm256_castps_si256(small)));
    let m = _mm256_add_ps(m, _mm256_and_ps(small, m));
    let f = _mm256_sub_ps(m, splat(1.0));
    let mut p = splat(LN_P[0]);
    for &c in &LN_P[1..] {
        p = _mm256_fmadd_ps(p, f, splat(c));
    }
    let z = _mm256_mul_ps(f, f);
    let y = _mm256_fnmadd_ps(splat(0.5), z, _mm256_mul_ps(_mm256_mul_ps(f, z), p));
    let ln = _mm256_add_ps(_mm256_add_ps(f, y), _mm256_fmadd_ps(e, splat(LN2_LO), _mm256_mul_ps(e, splat(LN2_HI))));
    _mm256_blendv_ps(ln, splat(super::LOG_CLAMP), _mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(super::MIN_NORMAL)))
}

/// The sum of the eight lanes, in every lane: halves, then pairs, then neighbours.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn lane_sum(v: __m256) -> __m256 {
    let v = _mm256_add_ps(v, _mm256_permute2f128_ps::<1>(v, v));
    let v = _mm256_add_ps(v, _mm256_permute_ps::<0b0100_1110>(v));
    _mm256_add_ps(v, _mm256_permute_ps::<0b1011_0001>(v))
}

/// All ones in the lanes where `v` is infinite or NaN.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn not_finite(v: __m256) -> __m256 {
    let zeroed = _mm256_mul_ps(v, splat(0.0));
    _mm256_cmp_ps::<_CMP_UNORD_Q>(zeroed, zeroed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn first_lane(v: __m256) -> f32 {
    _mm256_cvtss_f32(v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn epochs<const H: usize>(w: &mut [f32], data: &Dataset, lr: f32, losses: &mut [f32]) {
    let n = data.len();
    let l = Layout::new(H);
    let lanes = |values: &[f32]| {
        let mut a = [0.0f32; MAX_N];
        a[..values.len()].copy_from_slice(values);
        // SAFETY: `a` holds eight floats; the load is unaligned.
        unsafe { _mm256_loadu_ps(a.as_ptr()) }
    };
    let (x1, x2) = (lanes(&data.xt[..n]), lanes(&data.xt[n..]));
    let t = lanes(&data.t);
    // 1 (and 1/N) in the lanes that hold samples, 0 in the padding: its terms vanish.
    let in_batch = lanes(&[1.0; MAX_N][..n]);
    let scale = _mm256_mul_ps(in_batch, splat(1.0 / n as f32));
    let is_one = _mm256_cmp_ps::<_CMP_GT_OQ>(t, splat(0.5));
    let neg_lr = splat(-lr);
    let mut wa: [__m256; H] = std::array::from_fn(|j| splat(w[l.w1 + 2 * j]));
    let mut wb: [__m256; H] = std::array::from_fn(|j| splat(w[l.w1 + 2 * j + 1]));
    let mut b1: [__m256; H] = std::array::from_fn(|j| splat(w[l.b1 + j]));
    let mut v: [__m256; H] = std::array::from_fn(|j| splat(w[l.w2 + j]));
    let mut b2 = splat(w[l.b2]);
    for loss in losses {
        let mut g2 = b2;
        let mut s1 = [splat(0.0); H];
        for j in 0..H {
            s1[j] = sigmoid(_mm256_fmadd_ps(wa[j], x1, _mm256_fmadd_ps(wb[j], x2, b1[j])));
            g2 = _mm256_fmadd_ps(v[j], s1[j], g2);
        }
        let s2 = sigmoid(g2);
        let dg2 = _mm256_mul_ps(_mm256_sub_ps(s2, t), scale);
        let mut bad = not_finite(dg2);
        let d_b2 = lane_sum(dg2);
        for j in 0..H {
            let dg1 = _mm256_mul_ps(_mm256_mul_ps(v[j], dg2), _mm256_mul_ps(s1[j], _mm256_sub_ps(splat(1.0), s1[j])));
            let d_v = lane_sum(_mm256_mul_ps(dg2, s1[j]));
            let (d_wa, d_wb, d_b1) =
                (lane_sum(_mm256_mul_ps(dg1, x1)), lane_sum(_mm256_mul_ps(dg1, x2)), lane_sum(dg1));
            let sums_bad = _mm256_or_ps(not_finite(_mm256_add_ps(d_wa, d_wb)), not_finite(_mm256_add_ps(d_b1, d_v)));
            bad = _mm256_or_ps(bad, sums_bad);
            wa[j] = _mm256_fmadd_ps(neg_lr, d_wa, wa[j]);
            wb[j] = _mm256_fmadd_ps(neg_lr, d_wb, wb[j]);
            b1[j] = _mm256_fmadd_ps(neg_lr, d_b1, b1[j]);
            v[j] = _mm256_fmadd_ps(neg_lr, d_v, v[j]);
        }
        b2 = _mm256_fmadd_ps(neg_lr, d_b2, b2);
        // The loss of the weights the epoch started from; off the chain to the next epoch.
        let p = _mm256_blendv_ps(_mm256_sub_ps(splat(1.0), s2), s2, is_one);
        let total = first_lane(lane_sum(_mm256_mul_ps(in_batch, clamped_ln(p))));
        *loss = if _mm256_movemask_ps(bad) == 0 && total.is_finite() {
            (-(total as f64) / n as f64) as f32
        } else {
            f32::NAN
        };
    }
    for j in 0..H {
        w[l.w1 + 2 * j] = first_lane(wa[j]);
        w[l.w1 + 2 * j + 1] = first_lane(wb[j]);
        w[l.b1 + j] = first_lane(b1[j]);
        w[l.w2 + j] = first_lane(v[j]);
    }
    w[l.b2] = first_lane(b2);
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Runs `f` on eight values at a time; the CPU must have AVX2 and FMA.
    fn lanes_of(f: unsafe fn(__m256) -> __m256, xs: &[f32]) -> Vec<f32> {
        assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"), "these tests need AVX2 and FMA");
        xs.chunks(8)
            .flat_map(|c| {
                let mut a = [1.0f32; 8];
                a[..c.len()].copy_from_slice(c);
                let mut out = [0.0f32; 8];
                // SAFETY: AVX2 and FMA checked above; `a` and `out` hold eight floats.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), f(_mm256_loadu_ps(a.as_ptr()))) };
                out[..c.len()].to_vec()
            })
            .collect()
    }

    /// The bound [`super::super::approx::exp`] states, here with fused multiply-adds.
    #[test]
    fn exp_is_within_its_bound() {
        let xs: Vec<f32> = (0..=1_000_000).map(|i| EXP_MIN * i as f32 / 1_000_000.0).collect();
        let worst = lanes_of(exp_neg, &xs)
            .iter()
            .zip(&xs)
            .map(|(&got, &x)| ((got as f64 - (x as f64).exp()) / (x as f64).exp()).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 4e-7, "worst relative error {worst:e}");
        let nan = lanes_of(exp_neg, &[f32::NAN]);
        assert!(nan[0].is_nan(), "NaN in, NaN out");
        // Below EXP_MIN, 0 like the scalar form: a saturated unit logs as the clamp.
        assert_eq!(lanes_of(exp_neg, &[-87.34, -92.0, -1e4]), [0.0; 3]);
    }

    /// The bound [`super::super::approx::ln`] states, and the clamp below the smallest normal.
    #[test]
    fn clamped_ln_is_within_its_bound() {
        let mut xs = Vec::new();
        let mut x = f32::MIN_POSITIVE;
        while x < 1e30 {
            xs.extend((0..64).map(|k| x * (1.0 + k as f32 / 64.0)));
            x *= 1.37;
        }
        xs.extend((1..=100_000).map(|i| i as f32 / 100_000.0));
        let worst = lanes_of(clamped_ln, &xs)
            .iter()
            .zip(&xs)
            .map(|(&got, &x)| (got as f64 - (x as f64).ln()).abs() / (x as f64).ln().abs().max(1.0))
            .fold(0.0, f64::max);
        assert!(worst <= 5e-7, "worst error {worst:e}");
        assert_eq!(lanes_of(clamped_ln, &[0.0, 1e-40]), vec![super::super::LOG_CLAMP; 2]);
    }
}
