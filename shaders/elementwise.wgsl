// Element-wise kernels over a rows × n matrix (n = the batch). They share one binding
// interface, so one bind group layout serves the family:
//   x: the input, y: a second input, out: the output.

struct ElementwiseDims {
    rows: u32,
    n: u32,
    // Where the bias vector starts in x (add_bias reads the packed parameters).
    x_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: ElementwiseDims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// out[r, c] += x[x_offset + r]: the bias broadcast along the batch (accumulated, +=).
@compute @workgroup_size(WG)
fn add_bias(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    out[idx] += x[dims.x_offset + idx / dims.n];
}

// out = σ(x) (written).
@compute @workgroup_size(WG)
fn sigmoid(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    out[idx] = sigmoid_scalar(x[idx]);
}

// out = x ⊙ y ⊙ (1 − y) with x = dS, y = S: back through a sigmoid (written).
@compute @workgroup_size(WG)
fn sigmoid_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    let s = y[idx];
    out[idx] = x[idx] * s * (1.0 - s);
}

// out = tanh(x) (written).
@compute @workgroup_size(WG)
fn tanh(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    out[idx] = tanh_scalar(x[idx]);
}

// out = x ⊙ (1 − y²) with x = dA, y = A: back through a tanh (written).
@compute @workgroup_size(WG)
fn tanh_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    let a = y[idx];
    out[idx] = x[idx] * (1.0 - a * a);
}

// out = max(x, 0), a NaN kept (written).
@compute @workgroup_size(WG)
fn relu(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    let z = x[idx];
    out[idx] = select(z, 0.0, z < 0.0);
}

// out = x ⊙ [y > 0] with x = dA, y = A: back through a ReLU (A > 0 exactly where Z > 0;
// 0 at the kink, as PyTorch takes it) (written).
@compute @workgroup_size(WG)
fn relu_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.rows * dims.n {
        return;
    }
    out[idx] = select(0.0, x[idx], y[idx] > 0.0);
}
