// The update rules beyond plain SGD (sgd.wgsl), as PyTorch's torch.optim defines them, over
// `count` floats of the packed vectors from `offset`:
//   grads: the gradient (l2_grad adds to it), params: the parameters,
//   m, v: the state vectors (momentum keeps its one in v),
//   adam: [k, then per step of the block (step_size, √(1 − β₂ᵗ)) as f32 bits]: k counts the
//   block's steps taken; the host writes the table once per block, computed in f64 (WGSL's
//   pow is exp2(t·log2 β), and log2 near 1 is only good to an absolute 2⁻²¹, which is
//   parts in 10⁴ of log2(0.999)).

struct OptimDims {
    count: u32,
    offset: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    lambda: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: OptimDims;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> adam: array<u32>;

// grads += λ · params over one layer's weights: L2 on the weights (updated in place).
@compute @workgroup_size(WG)
fn l2_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.count {
        return;
    }
    let i = dims.offset + idx;
    grads[i] += dims.lambda * params[i];
}

// v ← μ·v + g; p ← p − lr·v (updated in place).
@compute @workgroup_size(WG)
fn momentum_update(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.count {
        return;
    }
    let i = dims.offset + idx;
    let vi = dims.momentum * v[i] + grads[i];
    v[i] = vi;
    params[i] -= dims.lr * vi;
}

// k ← k + 1, one thread, after adam_update: its own dispatch, so that every thread of the
// update read the same k.
@compute @workgroup_size(1)
fn adam_step() {
    adam[0] += 1u;
}

// m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − step_size·m / (√v/√(1−β₂ᵗ) + ε),
// PyTorch's order of operations, with step k's scalars from the table (updated in place).
@compute @workgroup_size(WG)
fn adam_update(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.count {
        return;
    }
    let i = dims.offset + idx;
    let k = adam[0];
    let step_size = bitcast<f32>(adam[1u + 2u * k]);
    let correction2_sqrt = bitcast<f32>(adam[2u + 2u * k]);
    let g = grads[i];
    let mi = dims.beta1 * m[i] + dims.one_minus_beta1 * g;
    let vi = dims.beta2 * v[i] + dims.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] -= step_size * mi / (sqrt(vi) / correction2_sqrt + dims.eps);
}
