// c = op(a) · op(b) with op(a): m × k, op(b): k × p, c: m × p, all row-major.
// The transposes the backward pass needs (S1ᵀ, W2ᵀ, X = (Xᵀ)ᵀ) are only strides: element
// (i, kk) of op(a) is a[a_offset + i·a_row + kk·a_col], element (kk, j) of op(b) is
// b[b_offset + kk·b_row + j·b_col].
//
// When k is the batch (dW2 = dG2·S1ᵀ, dW1 = dG1·X) one thread per output would walk the
// whole batch alone, so k is cut into `splits` slices of `k_split`: thread (out, split)
// writes the partial sum c[c_offset + out·splits + split], and sum_rows then adds the
// slices of each output in a fixed order. With splits = 1 the thread writes c[c_offset + out].

struct MatmulDims {
    m: u32,
    k: u32,
    p: u32,
    k_split: u32,
    a_offset: u32,
    a_row: u32,
    a_col: u32,
    splits: u32,
    b_offset: u32,
    b_row: u32,
    b_col: u32,
    c_offset: u32,
}

@group(0) @binding(0) var<uniform> dims: MatmulDims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn matmul(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    if idx >= dims.m * dims.p * dims.splits {
        return;
    }
    let split = idx % dims.splits;
    let out = idx / dims.splits;
    let i = out / dims.p;
    let j = out % dims.p;
    let k0 = split * dims.k_split;
    let k1 = min(k0 + dims.k_split, dims.k);
    var acc = 0.0;
    for (var kk = k0; kk < k1; kk++) {
        acc += a[dims.a_offset + i * dims.a_row + kk * dims.a_col]
             * b[dims.b_offset + kk * dims.b_row + j * dims.b_col];
    }
    c[dims.c_offset + idx] = acc;
}
