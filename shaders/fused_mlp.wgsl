// The fused path for any narrow net: one pass over the data per epoch, every layer's
// forward and backward pass per sample in the thread's private memory, nothing per sample
// written. The host prepends the net (src/gpu/fused_mlp.rs): `const P`, `const D0`, `const
// DIRECT: bool` (each thread's sums written, see below) and functions written for it:
// `load_weights()` (wp = params), `add_sample(i, n, inv_n)` (sample i's forward pass, loss
// and backward pass, its terms added to acc), `write_partials(thread, threads)`, and the
// stash function of its form of mlp_partials. Every index in them is a literal, so the
// values can live in registers. On a CPU adapter each thread writes its P + 1 sums straight
// to `partials` (llvmpipe runs a barrier by switching through every invocation of the
// workgroup, and the trees' barriers cost it 5 ms an epoch for 2-16-16-1); on a GPU the
// workgroup adds them first.
//
// Parameters are packed layer by layer, [W1 | B1 | W2 | B2 | …]; the thread copies them to
// `wp` once. Its P gradient sums and its loss sum (at P) are `acc`. Then mlp_partials, in
// one of two forms the host appends: fused_mlp_sums.wgsl (each thread's sums written, or
// the workgroup's fixed tree through workgroup memory) or fused_mlp_subgroups.wgsl (each
// subgroup's sums by subgroupAdd, then the subgroups' in order), writing
// partials[v·groups_total + group_offset + group]; mlp_reduce adds those in a fixed order,
// so reruns are bit-identical.

struct FusedMlpDims {
    // Samples in the bound chunk of xt and t.
    n: u32,
    // Workgroups of mlp_partials over the chunk.
    groups: u32,
    // 1: advance the loss slot (a training epoch); 0: leave it (an evaluation).
    advance: u32,
    // Samples in the batch, the mean's divisor.
    total_n: u32,
    // Workgroups over every chunk, and those of the chunks before this one: a batch past one
    // storage binding is bound in chunks, one dispatch of mlp_partials each, each writing its
    // partials after the earlier chunks', and one mlp_reduce adds them all.
    groups_total: u32,
    group_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: FusedMlpDims;
@group(0) @binding(1) var<storage, read> xt: array<f32>;               // D0 × n (the chunk)
@group(0) @binding(2) var<storage, read> t: array<f32>;                // 1 × n
@group(0) @binding(3) var<storage, read> params: array<f32>;           // P
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;   // (P + 1) × groups_total (× WG where DIRECT)
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;     // the block's loss history
// [the next slot of `losses`]: set by the host at each block, advanced by mlp_reduce.
@group(0) @binding(6) var<storage, read_write> state: array<u32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;      // P

const GRAD_EPS: f32 = 1e-12;

var<private> wp: array<f32, P>;
var<private> acc: array<f32, P + 1u>;

// Thread `lid` of workgroup `group` walks samples i = its index, + all threads, …
// (coalesced), adding each one's terms to its `acc`.
fn add_samples(group: u32, lid: u32) {
    let n = dims.n;
    let inv_n = 1.0 / f32(dims.total_n);
    // (acc, private, starts at zero.)
    load_weights();
    let stride = dims.groups * WG;
    for (var i = group * WG + lid; i < n; i += stride) {
        add_sample(i, n, inv_n);
    }
}

// Thread v (one per value, P + 1 of them) adds partials[v·count + g] over the count (every
// chunk's workgroups, or their every thread where DIRECT) in order: v < P is parameter v's
// gradient, into `grads` (the update kernels of sgd.wgsl and optim.wgsl follow); v = P is
// the loss sum, into the history. One thread a value, no
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
    let count = select(dims.groups_total, dims.groups_total * WG, DIRECT);
    var sum = 0.0;
    for (var g = 0u; g < count; g++) {
        sum += partials[v * count + g];
    }
    if v < P {
        grads[v] = sum;
    } else {
        let slot = state[0];
        losses[slot] = -sum / f32(dims.total_n);
        state[0] = slot + dims.advance;
    }
}
