// Prepended to every kernel file (see src/gpu/kernels.rs): the workgroup size, the
// linear workgroup index of a dispatch spread over x and y, the workgroup sum, and the
// scalar sigmoid and clamped log that the step and the fused kernels share.

const WG: u32 = 256u;

// A dispatch of more than 65,535 workgroups is spread over y (see `grid` in
// src/gpu/kernels.rs); this rebuilds the linear index. Threads past the end of the data
// must check it themselves.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

var<workgroup> scratch: array<f32, WG>;

// Tree sum of one value per thread, in a fixed order, so the result is the same run after
// run. Every thread of the workgroup must call it (it holds barriers).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            scratch[lid] += scratch[lid + stride];
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    // Keeps a later call in the same kernel from overwriting scratch[0] before all read it.
    workgroupBarrier();
    return total;
}

// σ(z) = 1 / (1 + e^(−z)), branching on the sign so exp only sees z ≤ 0 and never
// overflows: for z < 0 it is e^z / (1 + e^z). One division: a GPU's is a dozen
// instructions, and the fused kernels take three sigmoids a sample.
fn sigmoid_scalar(z: f32) -> f32 {
    let e = exp(-abs(z));
    let r = 1.0 / (1.0 + e);
    return select(e * r, r, z >= 0.0);
}

const LOG_CLAMP: f32 = -100.0;
const MIN_NORMAL: f32 = 1.17549435e-38;

// log p clamped at −100 as PyTorch does. A p below the smallest normal float counts as 0
// (a GPU may flush it to 0, and log(0) is not a number WGSL promises); above it, log p is
// over −88 and needs no clamp. Written without max() so that a NaN p gives a NaN loss,
// which is how a diverging run is caught.
fn clamped_log(p: f32) -> f32 {
    return select(log(p), LOG_CLAMP, p < MIN_NORMAL);
}


// tanh z without WGSL's tanh, whose precision is only "inherited from sinh/cosh" (which
// overflow for large |z|): the odd Taylor series to z¹⁷ for |z| < 0.55 (its next term is
// under 0.05 ulp there), and (1 − e)/(1 + e) with e = e^(−2|z|) ≤ 1/3 beyond, where exp's
// error is not amplified (1 − e cancels little), and nothing overflows.
fn tanh_scalar(z: f32) -> f32 {
    let a = abs(z);
    if a < 0.55 {
        let z2 = z * z;
        var p = 0.00059002744;
        p = p * z2 - 0.0014558344;
        p = p * z2 + 0.0035921280;
        p = p * z2 - 0.0088632355;
        p = p * z2 + 0.021869489;
        p = p * z2 - 0.053968254;
        p = p * z2 + 0.13333334;
        p = p * z2 - 0.33333334;
        return z + z * z2 * p;
    }
    let e = exp(-2.0 * a);
    return sign(z) * (1.0 - e) / (1.0 + e);
}
