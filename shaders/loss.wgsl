// Binary cross-entropy and its gradient with respect to the prediction.
//   s2: 1 × N predictions, t: 1 × N targets, out: see each kernel.

struct LossDims {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> dims: LossDims;
@group(0) @binding(1) var<storage, read> s2: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const GRAD_EPS: f32 = 1e-12;

// First pass of the loss: out[w] = Σ tₙ log pₙ + (1 − tₙ) log(1 − pₙ) over the WG·4
// samples of workgroup w. sum_rows finishes the sum and applies the −1/N.
@compute @workgroup_size(WG)
fn bce_loss(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = workgroup_index(wid, nwg);
    var acc = 0.0;
    for (var r = 0u; r < 4u; r++) {
        let i = w * WG * 4u + r * WG + lid;
        if i < dims.n {
            let p = s2[i];
            acc += t[i] * clamped_log(p) + (1.0 - t[i]) * clamped_log(1.0 - p);
        }
    }
    let total = workgroup_sum(lid, acc);
    if lid == 0u && w * WG * 4u < dims.n {
        out[w] = total;
    }
}

// out = ∂loss/∂S2 = (S2 − T) / max(S2·(1 − S2), 1e-12) / N (written).
@compute @workgroup_size(WG)
fn bce_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.n {
        return;
    }
    let p = s2[idx];
    out[idx] = (p - t[idx]) / max(p * (1.0 - p), GRAD_EPS) / f32(dims.n);
}
