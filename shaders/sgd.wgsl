// sgd_update: params ← params − lr · grads over the packed [w1 | b1 | w2 | b2] vector.

struct SgdDims {
    count: u32,
    lr: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: SgdDims;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;

@compute @workgroup_size(WG)
fn sgd_update(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.count {
        return;
    }
    params[idx] -= dims.lr * grads[idx];
}
