// The tiled path's layer kernels: GEMM-style products of a layer's weights with tiles of
// samples, each with the element-wise step that follows it fused into its store.
//
//   layer_forward:  A_l = f(W_l · A_{l−1} + B_l)           (m = d_l, k = d_{l−1}, p = N)
//   layer_backward: dZ_{l−1} = (W_lᵀ · dZ_l) ⊙ f′(A_{l−1})  (m = d_{l−1}, k = d_l, p = N)
//   layer_grad:     dW_l = dZ_l · A_{l−1}ᵀ                   (m = d_l, k = N, p = d_{l−1})
//
// The host prepends the tile's shape (src/gpu/tiled.rs): TY × TX threads (TY·TX = WG), each
// owning RM rows × 4 columns of a TM × TN tile of C (TM = TY·RM, TN = TX·4), a vec4 of sums
// a row, and TK, the depth of the slices of op(A) and op(B) staged in workgroup memory. A
// thread's rows are i0 + ty + r·TY and its columns the four j0 + 4·tx + q: one vec4 of the
// B slice a step (neighbouring threads, neighbouring vec4s), and four neighbouring words of
// C written a row.
//
// Operands are strided as in matmul.wgsl: element (i, kk) of op(A) is
// a[a_offset + i·a_row + kk·a_col], (kk, j) of op(B) is b[b_offset + kk·b_row + j·b_col],
// and (i, j) of C is at c_offset + i·c_row + j·c_col. When k is the batch (layer_grad) it
// is cut into `splits` slices of `k_split` and slice s writes its partial sums as a block,
// element `out` of C at c_offset + s·m·p + out, which sum_cols adds in a fixed order; so
// every sum is taken in the same order on every run, with no atomics.

struct TiledDims {
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
    c_row: u32,
    c_col: u32,
    // Where the bias starts in `e` (layer_forward); where A_{l−1} starts (layer_backward).
    e_offset: u32,
    // The activation: 0 sigmoid, 1 tanh, 2 ReLU.
    act: u32,
}

@group(0) @binding(0) var<uniform> dims: TiledDims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
// The bias (layer_forward) or the stored activation A_{l−1} (layer_backward).
@group(0) @binding(3) var<storage, read> e: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TM: u32 = TY * RM;
const TN: u32 = TX * 4u;

var<workgroup> tile_a: array<f32, TM * TK>;  // op(A)[i0 .. i0 + TM, k0 .. k0 + TK]
// op(B)[k0 .. k0 + TK, j0 .. j0 + TN], a vec4 of four neighbouring columns per word.
var<workgroup> tile_b: array<vec4<f32>, TK * TX>;

struct Tile {
    i0: u32,
    j0: u32,
    k0: u32,
    k1: u32,
    split: u32,
}

fn tiles_m() -> u32 {
    return (dims.m + TM - 1u) / TM;
}

fn tiles_p() -> u32 {
    return (dims.p + TN - 1u) / TN;
}

// Workgroup w's tile: row tiles fastest (the workgroups that share a B slice run
// together), then column tiles, then slices of k.
fn tile_of(w: u32) -> Tile {
    let per_split = tiles_m() * tiles_p();
    let split = w / per_split;
    let rest = w % per_split;
    let k0 = split * dims.k_split;
    return Tile((rest % tiles_m()) * TM, (rest / tiles_m()) * TN, k0, min(k0 + dims.k_split, dims.k), split);
}

// Σ_{kk ∈ [k0, k1)} op(A)[i, kk] · op(B)[kk, j] over the thread's rows i (one vec4 each)
// and its four columns j, kk in increasing order; zero outside the matrices. Every thread
// of the workgroup calls it (it holds barriers).
fn multiply_tile(t: Tile, lid: u32) -> array<vec4<f32>, RM> {
    var acc: array<vec4<f32>, RM>;
    let tx = lid % TX;
    let ty = lid / TX;
    for (var k0 = t.k0; k0 < t.k1; k0 += TK) {
        let kn = min(TK, t.k1 - k0);
        // Staged along whichever axis is contiguous in memory, so the reads coalesce.
        for (var q = lid; q < TM * TK; q += WG) {
            var i = q / TK;
            var kk = q % TK;
            if dims.a_col != 1u {
                i = q % TM;
                kk = q / TM;
            }
            var v = 0.0;
            if t.i0 + i < dims.m && kk < kn {
                v = a[dims.a_offset + (t.i0 + i) * dims.a_row + (k0 + kk) * dims.a_col];
            }
            tile_a[i * TK + kk] = v;
        }
        for (var q = lid; q < TK * TN; q += WG) {
            var kk = q / TN;
            var j = q % TN;
            if dims.b_col != 1u {
                kk = q % TK;
                j = q / TK;
            }
            var v = 0.0;
            if t.j0 + j < dims.p && kk < kn {
                v = b[dims.b_offset + (k0 + kk) * dims.b_row + (t.j0 + j) * dims.b_col];
            }
            tile_b[kk * TX + j / 4u][j % 4u] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < kn; kk++) {
            let bv = tile_b[kk * TX + tx];
            for (var r = 0u; r < RM; r++) {
                acc[r] += tile_a[(ty + r * TY) * TK + kk] * bv;
            }
        }
        // The next slice overwrites the tiles only after every thread has read them.
        workgroupBarrier();
    }
    return acc;
}

fn activate(z: f32) -> f32 {
    switch dims.act {
        case 0u: {
            return sigmoid_scalar(z);
        }
        case 1u: {
            return tanh_scalar(z);
        }
        default: {
            return select(z, 0.0, z < 0.0);
        }
    }
}

// f′ from the stored output s = f(z), times the incoming gradient: as the *_backward
// kernels of elementwise.wgsl compute it.
fn activate_backward(d: f32, s: f32) -> f32 {
    switch dims.act {
        case 0u: {
            return d * s * (1.0 - s);
        }
        case 1u: {
            return d * (1.0 - s * s);
        }
        default: {
            return select(0.0, d, s > 0.0);
        }
    }
}

// The workgroup's tile, or None (false) past the last: the grid may overshoot.
fn start(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    return workgroup_index(wid, nwg) < tiles_m() * tiles_p() * dims.splits;
}

// A_l = f(W_l · A_{l−1} + B_l): C = op(A)·op(B), then the bias e[e_offset + i] and the
// activation (written).
@compute @workgroup_size(WG)
fn layer_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if !start(wid, nwg) {
        return;
    }
    let t = tile_of(workgroup_index(wid, nwg));
    let acc = multiply_tile(t, lid);
    for (var r = 0u; r < RM; r++) {
        let i = t.i0 + lid / TX + r * TY;
        for (var q = 0u; q < 4u; q++) {
            let j = t.j0 + 4u * (lid % TX) + q;
            if i < dims.m && j < dims.p {
                c[dims.c_offset + i * dims.c_row + j * dims.c_col] = activate(acc[r][q] + e[dims.e_offset + i]);
            }
        }
    }
}

// dZ_{l−1} = (W_lᵀ · dZ_l) ⊙ f′(A_{l−1}): C = op(A)·op(B), then times the derivative at
// A_{l−1} = e[e_offset + i·c_row + j·c_col] (written).
@compute @workgroup_size(WG)
fn layer_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if !start(wid, nwg) {
        return;
    }
    let t = tile_of(workgroup_index(wid, nwg));
    let acc = multiply_tile(t, lid);
    for (var r = 0u; r < RM; r++) {
        let i = t.i0 + lid / TX + r * TY;
        for (var q = 0u; q < 4u; q++) {
            let j = t.j0 + 4u * (lid % TX) + q;
            if i < dims.m && j < dims.p {
                let at = i * dims.c_row + j * dims.c_col;
                c[dims.c_offset + at] = activate_backward(acc[r][q], e[dims.e_offset + at]);
            }
        }
    }
}

// dW_l = dZ_l · A_{l−1}ᵀ, or this slice's part of it (written).
@compute @workgroup_size(WG)
fn layer_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if !start(wid, nwg) {
        return;
    }
    let t = tile_of(workgroup_index(wid, nwg));
    let acc = multiply_tile(t, lid);
    for (var r = 0u; r < RM; r++) {
        let i = t.i0 + lid / TX + r * TY;
        for (var q = 0u; q < 4u; q++) {
            let j = t.j0 + 4u * (lid % TX) + q;
            if i < dims.m && j < dims.p {
                let out = i * dims.c_row + j * dims.c_col;
                c[dims.c_offset + t.split * dims.m * dims.p + out] = acc[r][q];
            }
        }
    }
}
