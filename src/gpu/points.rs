//! The forward pass over fixed point sets (`shaders/points.wgsl`): the live page's boundary
//! grid and hidden units' maps, computed on the device that trains. The point sets and the
//! dispatches are made once a run; a frame writes the weights, runs one submission and
//! reads the outputs back.

use bytemuck::{Pod, Zeroable};

use super::kernels::{grid, Binding, Dispatch, Family, WG};
use super::Gpu;
use crate::net::{Net, MAX_WIDTH};
use crate::Error;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PointDims {
    points: u32,
    layers: u32,
    activation: u32,
    shown: u32,
    base: u32,
    _pad: [u32; 3],
    widths: [u32; 12],
}

/// The kernel's file with the common prelude.
pub const SOURCE: &str = concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/points.wgsl"));

/// One point set's place in the outputs.
struct PointSet {
    points: usize,
    shown: usize,
}

/// `forward_points` bound to a net's parameters and its point sets, whose outputs share
/// one buffer: a frame is one submission and one read-back.
pub struct PointsForward {
    gpu: Gpu,
    params: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    out: wgpu::Buffer,
    staging: wgpu::Buffer,
    sets: Vec<PointSet>,
}

/// A point set: its points `xt: d₀ × P`, and the hidden units to report as (layer, unit),
/// layer 1-based.
pub type PointSetSpec<'a> = (&'a [f32], &'a [(usize, usize)]);

/// What one set gives: the output at each point, and each shown unit's values.
pub type PointOutputs = (Vec<f32>, Vec<Vec<f32>>);

impl PointsForward {
    /// Compiles the kernel for `net` and binds each set.
    pub fn new(gpu: &Gpu, net: &Net, sets: &[PointSetSpec]) -> Result<Self, Error> {
        assert!(net.widest() <= MAX_WIDTH && net.widths.len() <= 12, "a net Net::new accepts");
        let family = Family::new(
            gpu,
            "points.wgsl",
            SOURCE,
            &[Binding::Uniform, Binding::Read, Binding::Read, Binding::Read, Binding::ReadWrite],
            &["forward_points"],
        )?;
        let params = gpu.storage("point params", net.param_count());
        let mut widths = [0u32; 12];
        for (w, &d) in widths.iter_mut().zip(&net.widths) {
            *w = d as u32;
        }
        let activation = match net.activation {
            crate::net::Activation::Sigmoid => 0,
            crate::net::Activation::Tanh => 1,
            crate::net::Activation::Relu => 2,
        };
        let total: usize = sets.iter().map(|(xt, shown)| xt.len() / net.inputs() * (1 + shown.len())).sum();
        // Poisoned: a point or unit the kernel misses reads as NaN, not as a plausible 0.
        let out = gpu.scoped("allocating forward_points outputs", || {
            gpu.storage_from("point outputs", &vec![f32::NAN; total])
        })?;
        let mut base = 0;
        let mut dispatches = Vec::new();
        let mut placed = Vec::new();
        for &(xt, shown) in sets {
            let points = xt.len() / net.inputs();
            let codes: Vec<u32> = shown.iter().map(|&(l, u)| (l * 65536 + u) as u32).collect();
            let dispatch = gpu.scoped("binding forward_points", || {
                let xt = gpu.storage_from("points", xt);
                let units = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("shown units"),
                    size: (codes.len().max(1) * 4) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                if !codes.is_empty() {
                    gpu.queue.write_buffer(&units, 0, bytemuck::cast_slice(&codes));
                }
                let dims = PointDims {
                    points: points as u32,
                    layers: net.layers() as u32,
                    activation,
                    shown: shown.len() as u32,
                    base: base as u32,
                    _pad: [0; 3],
                    widths,
                };
                let [x, y] = grid((points as u32).div_ceil(WG));
                family.dispatch(gpu, "forward_points", &dims, &[&params, &xt, &units, &out], [x, y, 1])
            })?;
            dispatches.push(dispatch);
            placed.push(PointSet { points, shown: shown.len() });
            base += points * (1 + shown.len());
        }
        Ok(PointsForward { gpu: gpu.clone(), params, dispatches, staging: gpu.staging(total), out, sets: placed })
    }

    /// Every set's outputs for the parameters `params` (packed as the net's).
    pub fn run(&self, params: &[f32]) -> Result<Vec<PointOutputs>, Error> {
        self.gpu.queue.write_buffer(&self.params, 0, bytemuck::cast_slice(params));
        super::kernels::submit(&self.gpu, &self.dispatches)?;
        let total = self.sets.iter().map(|s| s.points * (1 + s.shown)).sum();
        let mut all = vec![0.0f32; total];
        self.gpu.read(&self.out, 0, &self.staging, &mut all)?;
        let mut rest = all.as_slice();
        Ok(self
            .sets
            .iter()
            .map(|s| {
                let (set, tail) = rest.split_at(s.points * (1 + s.shown));
                rest = tail;
                let units = set[s.points..].chunks(s.points.max(1)).map(<[f32]>::to_vec).collect();
                (set[..s.points].to_vec(), units)
            })
            .collect())
    }
}
