//! The yardstick for a memory-bound epoch: how fast this device copies one buffer into
//! another. The fused epoch reads 12 bytes a sample and writes nothing per sample, so its
//! bytes per second against the copy's says how close to the memory it runs.

use std::time::Instant;

use super::Gpu;
use crate::Error;

/// A copy-bandwidth measurement.
#[derive(Clone, Copy, Debug)]
pub struct CopyBandwidth {
    /// The size of the buffer copied.
    pub buffer_bytes: u64,
    /// Bytes read plus bytes written per second (a copy of B bytes moves 2B), the median of
    /// the repeats.
    pub bytes_per_s: f64,
}

/// Copies `src` into `dst` (`bytes` each) `copies` times in one submission and waits for
/// them; the wall time in seconds.
pub fn timed_copies(
    gpu: &Gpu,
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
    bytes: u64,
    copies: usize,
) -> Result<f64, Error> {
    let start = Instant::now();
    gpu.scoped("copying buffers", || {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("copies") });
        for _ in 0..copies {
            encoder.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
        }
        gpu.queue.submit([encoder.finish()]);
    })?;
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
    gpu.check()?;
    Ok(start.elapsed().as_secs_f64())
}

/// Measures device-to-device copy bandwidth: a warm-up, then enough copies per submission
/// that a submission's fixed cost is small beside them (about 50 ms), median of 5. The
/// buffer is 1 GiB on a GPU (far past any cache) and 256 MiB on a CPU adapter, whose
/// "device memory" is the host's and slow to fill.
pub fn copy_bandwidth(gpu: &Gpu) -> Result<CopyBandwidth, Error> {
    let software = gpu.adapter.get_info().device_type == wgpu::DeviceType::Cpu;
    let want: u64 = if software { 256 << 20 } else { 1 << 30 };
    let limits = gpu.device.limits();
    let bytes = want.min(limits.max_buffer_size) / 4 * 4;
    let (src, dst) = gpu.scoped("allocating copy buffers", || {
        let buffer = |label| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        (buffer("copy source"), buffer("copy destination"))
    })?;
    // The first use also clears both buffers (wgpu zero-fills lazily): not timed.
    timed_copies(gpu, &src, &dst, bytes, 1)?;
    let one = timed_copies(gpu, &src, &dst, bytes, 1)?.min(timed_copies(gpu, &src, &dst, bytes, 1)?);
    let copies = ((0.05 / one.max(1e-9)) as usize).clamp(1, 64);
    let mut rates = (0..5)
        .map(|_| timed_copies(gpu, &src, &dst, bytes, copies).map(|s| (2 * bytes * copies as u64) as f64 / s))
        .collect::<Result<Vec<f64>, Error>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(CopyBandwidth { buffer_bytes: bytes, bytes_per_s: rates[2] })
}
