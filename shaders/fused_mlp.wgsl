// The fused path for any narrow net: one pass over the data per epoch, every layer's
// forward and backward pass per sample in the thread's private memory, nothing per sample
// written. The host prepends the net (src/gpu/fused_mlp.rs): `const P`, `const D0`, and
// functions written for it: `load_weights()`
// (wp = params), `add_sample(i, n, inv_n)` (sample i's forward pass, loss and backward
// pass, its terms added to acc) and `stash_sums(base, lid)` (sums[k·WG + lid] = acc[base +
// k], 0 past the last value), and `const DIRECT: bool` with `write_partials(thread,
// threads)`: on a CPU adapter each thread writes its P + 1 sums straight to `partials`
// (llvmpipe runs a barrier by switching through every invocation of the workgroup, and the
// trees' barriers cost it 5 ms an epoch for 2-16-16-1), on a GPU the workgroup adds them
// first. Every index in them is a literal, so the values can live in registers.
//
// Parameters are packed layer by layer, [W1 | B1 | W2 | B2 | …]; the thread copies them to
// `wp` once. Its P gradient sums and its loss sum (at P) are `acc`. The workgroup then adds
// each of the P + 1 sums in a fixed tree and writes partials[v·groups + group]; mlp_reduce
// adds those in a fixed order, so reruns are bit-identical.

struct FusedMlpDims {
    // Samples in the batch.
    n: u32,
    // Workgroups of mlp_partials.
    groups: u32,
    // 1: advance the loss slot (a training epoch); 0: leave it (an evaluation).
    advance: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: FusedMlpDims;
@group(0) @binding(1) var<storage, read> xt: array<f32>;               // D0 × N
@group(0) @binding(2) var<storage, read> t: array<f32>;                // 1 × N
@group(0) @binding(3) var<storage, read> params: array<f32>;           // P
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;   // (P + 1) × groups (× WG where DIRECT)
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;     // the block's loss history
// [the next slot of `losses`]: set by the host at each block, advanced by mlp_reduce.
@group(0) @binding(6) var<storage, read_write> state: array<u32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;      // P

const GRAD_EPS: f32 = 1e-12;

var<private> wp: array<f32, P>;
var<private> acc: array<f32, P + 1u>;

// Sums per tree: one barrier per level serves them all.
const SUM_BATCH: u32 = min(P + 1u, 16u);
var<workgroup> sums: array<f32, SUM_BATCH * WG>;

// Each thread walks samples i = its index, + all threads, … (coalesced); then the
// workgroup's trees, SUM_BATCH values at a time.
@compute @workgroup_size(WG)
fn mlp_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wid.x;
    let n = dims.n;
    let inv_n = 1.0 / f32(n);
    // (acc, private, starts at zero.)
    load_weights();
    let stride = dims.groups * WG;
    for (var i = group * WG + lid; i < n; i += stride) {
        add_sample(i, n, inv_n);
    }
    if DIRECT {
        write_partials(group * WG + lid, stride);
        return;
    }
    for (var base = 0u; base <= P; base += SUM_BATCH) {
        stash_sums(base, lid);
        workgroupBarrier();
        for (var half = WG / 2u; half > 0u; half /= 2u) {
            if lid < half {
                for (var k = 0u; k < SUM_BATCH; k++) {
                    sums[k * WG + lid] += sums[k * WG + lid + half];
                }
            }
            workgroupBarrier();
        }
        if lid < SUM_BATCH && base + lid <= P {
            partials[(base + lid) * dims.groups + group] = sums[lid * WG];
        }
        workgroupBarrier();
    }
}

// Thread v (one per value, P + 1 of them) adds partials[v·count + g] over the count
// (groups, or every thread where DIRECT) in order: v < P is parameter v's gradient, into `grads` (the update kernels of sgd.wgsl and
// optim.wgsl follow); v = P is the loss sum, into the history. One thread a value, no
// barriers: a workgroup tree per value (as apply_update does for the 2-H-1 net's few values)
// made llvmpipe spend 14 ms an epoch on 354 workgroups for 2-16-16-1.
@compute @workgroup_size(WG)
fn mlp_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let v = wid.x * WG + lid;
    if v > P {
        return;
    }
    let count = select(dims.groups, dims.groups * WG, DIRECT);
    var sum = 0.0;
    for (var g = 0u; g < count; g++) {
        sum += partials[v * count + g];
    }
    if v < P {
        grads[v] = sum;
    } else {
        let slot = state[0];
        losses[slot] = -sum / f32(dims.n);
        state[0] = slot + dims.advance;
    }
}
