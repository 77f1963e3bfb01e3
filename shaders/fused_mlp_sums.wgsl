// mlp_partials with each thread's sums written straight to `partials` (DIRECT: a CPU
// adapter, where a barrier switches through every invocation of the workgroup) or added by
// the workgroup first, SUM_BATCH values at a time in a fixed tree through workgroup memory
// (a GPU without subgroup operations). Appended to fused_mlp.wgsl by the host.

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
    add_samples(group, lid);
    if DIRECT {
        write_partials((dims.group_offset + group) * WG + lid, dims.groups_total * WG);
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
            partials[(base + lid) * dims.groups_total + dims.group_offset + group] = sums[lid * WG];
        }
        workgroupBarrier();
    }
}

