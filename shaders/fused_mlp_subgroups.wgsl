// mlp_partials on a device with subgroup operations: each subgroup adds its lanes' sums
// with subgroupAdd (in registers, no barrier), its first lane stores them, and after one
// barrier thread k adds value k's subgroup sums in subgroup order: two barriers for every
// SG_BATCH values, where the tree of fused_mlp_sums.wgsl takes one per level of WG and two
// more (10 for every 16 values). Appended to fused_mlp.wgsl by the host, which also writes
// `MAX_SUBGROUPS` (WG over WebGPU's smallest subgroup, 4), `SG_BATCH` (values per pass) and
// `stash_subgroup_sums(base, sg, lane)` (for values base.., the subgroup's sum of each into
// sg_sums[k·MAX_SUBGROUPS + sg], from lane 0). subgroupAdd's order is the device's, fixed
// for a compiled pipeline, so reruns of one trainer are bit-identical (a driver free to
// pick another subgroup size for another build may round differently there).

var<workgroup> sg_sums: array<f32, SG_BATCH * MAX_SUBGROUPS>;

@compute @workgroup_size(WG)
fn mlp_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) subgroups: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let group = wid.x;
    add_samples(group, lid);
    for (var base = 0u; base <= P; base += SG_BATCH) {
        stash_subgroup_sums(base, sg, lane);
        workgroupBarrier();
        if lid < SG_BATCH && base + lid <= P {
            var sum = 0.0;
            for (var s = 0u; s < subgroups; s++) {
                sum += sg_sums[lid * MAX_SUBGROUPS + s];
            }
            partials[(base + lid) * dims.groups_total + dims.group_offset + group] = sum;
        }
        workgroupBarrier();
    }
}
