// The fast path: whole epochs without writing any per-sample intermediate.
//
// The host prepends `const H: u32` (the hidden width) and `const TINY_WG: u32` (the
// workgroup size of train_tiny) to this file, so per-unit loops have constant bounds and
// per-thread arrays stay in registers.
//
// Parameters are packed [w1 | b1 | w2 | b2]: w1[j, c] at W1 + 2j + c, b1[j] at B1 + j,
// w2[j] at W2 + j, b2 at B2; P of them. dG2 = (S2 − T)/N, the math's simplified form. Labels
// are exactly 0 or 1 (the data is checked), so a sample's loss term
// t·log p + (1 − t)·log(1 − p) is the one log log(t ? p : 1 − p).

const P: u32 = 4u * H + 1u;
const W1: u32 = 0u;
const B1: u32 = 2u * H;
const W2: u32 = 3u * H;
const B2: u32 = 4u * H;

// A batch larger than one storage binding is split into chunks, each bound on its own:
// epoch_partials runs once per chunk, writing its groups' partials after the earlier
// chunks', and apply_update adds all of them.
struct FusedDims {
    // Samples in the bound xt and t (the chunk; the whole batch for train_tiny).
    n: u32,
    // train_tiny: the most epochs one dispatch runs.
    epochs_per_dispatch: u32,
    lr: f32,
    // epoch_partials: this dispatch's workgroups, and where its partials start.
    groups: u32,
    group_offset: u32,
    // Partial sums per value over all chunks.
    groups_total: u32,
    // The whole batch N, for the 1/N of the loss and its gradient.
    total_n: u32,
    // What the epoch ends with: MODE_LOSS, MODE_UPDATE or MODE_GRADIENT.
    mode: u32,
}

// The loss of the current weights into the history; nothing else changes.
const MODE_LOSS: u32 = 0u;
// The loss, then the update: a training epoch.
const MODE_UPDATE: u32 = 1u;
// The loss, and the gradient into `grads` instead of the update: how the tests read each
// gradient as this path computes it, element by element.
const MODE_GRADIENT: u32 = 2u;

@group(0) @binding(0) var<uniform> dims: FusedDims;
@group(0) @binding(1) var<storage, read> xt: array<f32>;           // 2 × N
@group(0) @binding(2) var<storage, read> t: array<f32>;            // 1 × N
@group(0) @binding(3) var<storage, read_write> params: array<f32>; // P
@group(0) @binding(4) var<storage, read_write> partials: array<f32>; // (P + 1) × groups_total
@group(0) @binding(5) var<storage, read_write> losses: array<f32>; // the block's loss history
// [the next slot of `losses`, epochs left in the block]: set by the host at each block,
// advanced here, so epochs need no per-epoch write from the host.
@group(0) @binding(6) var<storage, read_write> state: array<u32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;  // P, MODE_GRADIENT only

// ---- Tiny batches: one workgroup, the weights in workgroup memory, many epochs. ----

var<workgroup> w: array<f32, P>;
var<workgroup> s1_sh: array<f32, H * TINY_WG>;  // S1[j, n] at j·TINY_WG + n
var<workgroup> dg1_sh: array<f32, H * TINY_WG>; // dG1[j, n]
var<workgroup> dg2_sh: array<f32, TINY_WG>;
var<workgroup> x_sh: array<f32, 2 * TINY_WG>;   // Xᵀ
var<workgroup> loss_sh: array<f32, TINY_WG>;
var<workgroup> run_sh: u32;

// Thread n holds sample n (N ≤ TINY_WG). Each epoch: the forward and backward pass per
// sample into workgroup memory; then thread p sums parameter p's gradient over the samples
// in order and updates it; thread 0 records the loss.
@compute @workgroup_size(TINY_WG)
fn train_tiny(@builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    for (var p = lid; p < P; p += TINY_WG) {
        w[p] = params[p];
    }
    let has_sample = lid < n;
    var tn = 0.0;
    if has_sample {
        x_sh[lid] = xt[lid];
        x_sh[TINY_WG + lid] = xt[n + lid];
        tn = t[lid];
    }
    let slot = state[0];
    if lid == 0u {
        run_sh = min(state[1], dims.epochs_per_dispatch);
    }
    // Also the barrier that makes w and x_sh visible to all.
    let run = workgroupUniformLoad(&run_sh);
    let inv_n = 1.0 / f32(n);

    for (var e = 0u; e < run; e++) {
        if has_sample {
            let x1 = x_sh[lid];
            let x2 = x_sh[TINY_WG + lid];
            var g2 = w[B2];
            for (var j = 0u; j < H; j++) {
                let s = sigmoid_scalar(w[W1 + 2u * j] * x1 + w[W1 + 2u * j + 1u] * x2 + w[B1 + j]);
                s1_sh[j * TINY_WG + lid] = s;
                g2 += w[W2 + j] * s;
            }
            let s2 = sigmoid_scalar(g2);
            loss_sh[lid] = clamped_log(select(1.0 - s2, s2, tn > 0.5));
            let dg2 = (s2 - tn) * inv_n;
            dg2_sh[lid] = dg2;
            for (var j = 0u; j < H; j++) {
                let s = s1_sh[j * TINY_WG + lid];
                dg1_sh[j * TINY_WG + lid] = w[W2 + j] * dg2 * s * (1.0 - s);
            }
        }
        workgroupBarrier();
        for (var p = lid; p < P; p += TINY_WG) {
            var grad = 0.0;
            if p < B1 {
                let j = p / 2u;
                let c = p % 2u;
                for (var i = 0u; i < n; i++) {
                    grad += dg1_sh[j * TINY_WG + i] * x_sh[c * TINY_WG + i];
                }
            } else if p < W2 {
                for (var i = 0u; i < n; i++) {
                    grad += dg1_sh[(p - B1) * TINY_WG + i];
                }
            } else if p < B2 {
                for (var i = 0u; i < n; i++) {
                    grad += dg2_sh[i] * s1_sh[(p - W2) * TINY_WG + i];
                }
            } else {
                for (var i = 0u; i < n; i++) {
                    grad += dg2_sh[i];
                }
            }
            if dims.mode == MODE_GRADIENT {
                grads[p] = grad;
            } else {
                w[p] -= dims.lr * grad;
            }
        }
        if lid == 0u {
            var total = 0.0;
            for (var i = 0u; i < n; i++) {
                total += loss_sh[i];
            }
            losses[slot + e] = -total * inv_n;
        }
        workgroupBarrier();
    }
    for (var p = lid; p < P; p += TINY_WG) {
        params[p] = w[p];
    }
    if lid == 0u {
        state[0] = slot + run;
        state[1] -= run;
    }
}

// ---- Any batch: one pass over the data per epoch, then a small update pass. ----

// Each thread walks samples i = its index, + all threads, … (coalesced), doing the forward
// pass, the loss and the backward pass in registers and adding its P gradient terms and its
// loss term to private sums; the workgroup then adds each of the P + 1 sums in a fixed tree
// and writes partials[v·groups_total + group_offset + group]. Nothing per sample is written.

// Samples a thread loads before it computes any: their loads are in flight together, where
// one at a time each would wait out the memory's whole latency (a thread's samples are
// still added in the same order). The loop below is written out for four. On the H100 this
// alone gained nothing while the sums still lived in memory; the README's figures were
// measured with it in place, and it has not been measured apart since.
const LOADS_AHEAD: u32 = 4u;
// Sums per tree: one barrier per level serves them all.
const SUM_BATCH: u32 = min(P + 1u, 16u);
var<workgroup> sums: array<f32, SUM_BATCH * WG>;

// The thread's copy of the parameters, and its P gradient sums in packed order then the
// loss sum at P. The host generates the functions that touch them (load_weights,
// add_sample, stash_sums: see `sample_code` in src/gpu/fused.rs) for this H with every
// index a literal: an index the compiler cannot resolve sends an array to memory, which
// made each sample cost ~1.2 µs of a thread's time on an H100.
var<private> wp: array<f32, P>;
var<private> acc: array<f32, P + 1u>;

@compute @workgroup_size(WG)
fn epoch_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wid.x;
    let n = dims.n;
    let inv_n = 1.0 / f32(dims.total_n);
    load_weights();
    let stride = dims.groups * WG;
    var i = group * WG + lid;
    // Whole rounds of LOADS_AHEAD samples (n < 2^31 and stride < 2^21 in a chunk, so the
    // sums cannot wrap), then the rest one at a time.
    while i + (LOADS_AHEAD - 1u) * stride < n {
        let a = i;
        let b = i + stride;
        let c = i + 2u * stride;
        let d = i + 3u * stride;
        let x1 = vec4(xt[a], xt[b], xt[c], xt[d]);
        let x2 = vec4(xt[n + a], xt[n + b], xt[n + c], xt[n + d]);
        let tn = vec4(t[a], t[b], t[c], t[d]);
        add_sample(x1.x, x2.x, tn.x, inv_n);
        add_sample(x1.y, x2.y, tn.y, inv_n);
        add_sample(x1.z, x2.z, tn.z, inv_n);
        add_sample(x1.w, x2.w, tn.w, inv_n);
        i += LOADS_AHEAD * stride;
    }
    for (; i < n; i += stride) {
        add_sample(xt[i], xt[n + i], t[i], inv_n);
    }
    for (var base = 0u; base < P + 1u; base += SUM_BATCH) {
        // sums[k·WG + lid] = acc[base + k], or 0 past the last value.
        stash_sums(base, lid);
        workgroupBarrier();
        for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
            if lid < stride {
                for (var k = 0u; k < SUM_BATCH; k++) {
                    sums[k * WG + lid] += sums[k * WG + lid + stride];
                }
            }
            workgroupBarrier();
        }
        if lid < SUM_BATCH && base + lid <= P {
            partials[(base + lid) * dims.groups_total + dims.group_offset + group] = sums[lid * WG];
        }
        workgroupBarrier();
    }
}

// Workgroup v (one per value, P + 1 of them) adds partials[v·groups_total + g] over all groups in a
// fixed tree; then v < P updates parameter v, and v = P records the loss in the history.
@compute @workgroup_size(WG)
fn apply_update(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let v = wid.x;
    var acc = 0.0;
    for (var g = lid; g < dims.groups_total; g += WG) {
        acc += partials[v * dims.groups_total + g];
    }
    let total = workgroup_sum(lid, acc);
    if lid == 0u {
        if v < P {
            if dims.mode == MODE_UPDATE {
                params[v] -= dims.lr * total;
            } else if dims.mode == MODE_GRADIENT {
                grads[v] = total;
            }
        } else {
            let slot = state[0];
            losses[slot] = -total / f32(dims.total_n);
            state[0] = slot + select(0u, 1u, dims.mode == MODE_UPDATE);
        }
    }
}
