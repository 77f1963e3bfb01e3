//! The yardstick for a memory-bound epoch: how fast this device copies one buffer into
//! another. The fused epoch reads 12 bytes a sample and writes nothing per sample, so its
//! bytes per second against the copy's says how close to the memory it runs.

use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use super::kernels::{Binding, Dispatch, Family, WG};
use super::Gpu;
use crate::Error;

/// A copy-bandwidth measurement, in bytes read plus bytes written per second (a copy of B
/// bytes moves 2B), medians of the repeats.
#[derive(Clone, Copy, Debug)]
pub struct CopyBandwidth {
    /// The size of the buffer copied.
    pub buffer_bytes: u64,
    /// The API's buffer-to-buffer copy.
    pub buffer_copy: f64,
    /// A compute shader copying 16-byte words (`shaders/copy.wgsl`).
    pub shader_copy: f64,
}

impl CopyBandwidth {
    /// The faster of the two: the yardstick, so that no slow copy flatters an epoch.
    pub fn bytes_per_s(&self) -> f64 {
        self.buffer_copy.max(self.shader_copy)
    }
}

impl std::fmt::Display for CopyBandwidth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} GB/s buffer copy, {:.2} GB/s shader copy (a {} MiB buffer, bytes read + written, medians of 5)",
            self.buffer_copy / 1e9,
            self.shader_copy / 1e9,
            self.buffer_bytes >> 20
        )
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CopyDims {
    n4: u32,
    groups: u32,
}

/// Records what `record` adds to one command encoder, submits it and waits for the GPU; the
/// wall time in seconds.
fn timed(gpu: &Gpu, what: &str, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<f64, Error> {
    let start = Instant::now();
    gpu.scoped(what, || {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
        record(&mut encoder);
        gpu.queue.submit([encoder.finish()]);
    })?;
    gpu.wait()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Copies `src` into `dst` (`bytes` each) `copies` times in one submission with the API's
/// buffer copy, and waits; the wall time in seconds.
pub fn timed_copies(
    gpu: &Gpu,
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
    bytes: u64,
    copies: usize,
) -> Result<f64, Error> {
    timed(gpu, "buffer copies", |encoder| {
        for _ in 0..copies {
            encoder.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
        }
    })
}

/// The shader copy of one buffer into another, compiled and bound once.
pub struct ShaderCopy {
    copy: Dispatch,
}

impl ShaderCopy {
    /// Binds `src` and `dst` (`bytes` each, a multiple of 16).
    pub fn new(gpu: &Gpu, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) -> Result<Self, Error> {
        let source = concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/copy.wgsl"));
        let family = Family::new(
            gpu,
            "copy.wgsl",
            source,
            &[Binding::Uniform, Binding::Read, Binding::ReadWrite],
            &["copy_vec4"],
        )?;
        let n4 = (bytes / 16) as u32;
        // Eight words a thread: enough workgroups to fill any GPU, within one dimension's limit.
        let groups = n4.div_ceil(WG * 8).clamp(1, 65_535);
        let copy = gpu.scoped("binding the copy", || {
            family.dispatch(gpu, "copy_vec4", &CopyDims { n4, groups }, &[src, dst], [groups, 1, 1])
        })?;
        Ok(ShaderCopy { copy })
    }

    /// `copies` copies in one submission, waited for; the wall time in seconds.
    pub fn timed(&self, gpu: &Gpu, copies: usize) -> Result<f64, Error> {
        timed(gpu, "shader copies", |encoder| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for _ in 0..copies {
                self.copy.record(&mut pass);
            }
        })
    }
}

/// Measures device-to-device copy bandwidth both ways (the API's copy and a shader's): a
/// warm-up, then enough copies per submission that a submission's fixed cost is small
/// beside them (about 50 ms), median of 5. The buffer is 1 GiB on a GPU (far past any
/// cache) and 256 MiB on a CPU adapter, whose "device memory" is the host's and slow to
/// fill; never more than one storage binding holds.
pub fn copy_bandwidth(gpu: &Gpu) -> Result<CopyBandwidth, Error> {
    let software = gpu.is_software();
    let want: u64 = if software { 256 << 20 } else { 1 << 30 };
    let limits = gpu.device.limits();
    let bytes = want.min(limits.max_buffer_size).min(limits.max_storage_buffer_binding_size) / 16 * 16;
    let floats = (bytes / 4) as usize;
    let (src, dst) = gpu.scoped("allocating copy buffers", || {
        (gpu.storage("copy source", floats), gpu.storage("copy destination", floats))
    })?;
    let median_rate = |timed: &dyn Fn(usize) -> Result<f64, Error>| -> Result<f64, Error> {
        // The first use also clears both buffers (wgpu zero-fills lazily): not timed.
        timed(1)?;
        let one = timed(1)?.min(timed(1)?);
        let copies = ((0.05 / one.max(1e-9)) as usize).clamp(1, 64);
        let mut rates = (0..5)
            .map(|_| timed(copies).map(|s| (2 * bytes * copies as u64) as f64 / s))
            .collect::<Result<Vec<f64>, Error>>()?;
        rates.sort_by(f64::total_cmp);
        Ok(rates[2])
    };
    let buffer_copy = median_rate(&|copies| timed_copies(gpu, &src, &dst, bytes, copies))?;
    let shader = ShaderCopy::new(gpu, &src, &dst, bytes)?;
    let shader_copy = median_rate(&|copies| shader.timed(gpu, copies))?;
    Ok(CopyBandwidth { buffer_bytes: bytes, buffer_copy, shader_copy })
}
