//! The wgpu host: picks an adapter, owns the device, and turns wgpu's errors into ours.
//!
//! - [`kernels`]: one compute pipeline per WGSL kernel, and the recorded dispatches.
//! - [`trainer`]: the buffers of a training run and its epoch, recorded once.

pub mod bandwidth;
pub mod ceiling;
pub mod fused;
pub mod fused_mlp;
pub mod kernels;
pub mod mlp;
pub mod mlp_tiny;
pub mod points;
pub mod population;
pub mod step;
pub mod tiled;
pub mod trainer;

use std::sync::{Arc, Mutex};

use futures_intrusive::channel::shared::oneshot_channel;

use crate::Error;

pub use trainer::GpuTrainer;

/// What to say when there is no adapter at all.
pub const NO_ADAPTER_HINT: &str = "no GPU adapter found: install a Vulkan, Metal or DX12 driver \
(on a headless Linux machine `apt-get install mesa-vulkan-drivers` gives a software one), or use --backend cpu";

/// An adapter in one line: name, backend, device type, and a plain warning when it is a
/// software rasteriser running on the CPU, so no one mistakes its timings for a GPU's.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let kind = match info.device_type {
        wgpu::DeviceType::Cpu => "software adapter on the CPU",
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Other => "other device",
    };
    format!("{} ({:?}, {kind})", info.name, info.backend)
}

/// An instance that honours `WGPU_BACKEND` and wgpu's other environment variables.
pub fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// The backends this build was compiled with, by the names `WGPU_BACKEND` takes.
const BUILT_BACKENDS: &str = "vulkan, metal, dx12";

/// Refuses a `WGPU_BACKEND` that names no backend this build has: wgpu would quietly look
/// nowhere, and "no adapter" would send the user to install a driver they have.
pub fn check_backend_env() -> Result<(), Error> {
    let Ok(value) = std::env::var("WGPU_BACKEND") else { return Ok(()) };
    // wgpu's own spellings of these three (`wgpu::Backends::from_comma_list`), matched here
    // without it, as it logs a warning per unknown name.
    let known = ["vulkan", "vk", "metal", "mtl", "dx12", "d3d12"];
    if !value.to_lowercase().split(',').any(|name| known.contains(&name.trim())) {
        return Err(Error::Input(format!(
            "WGPU_BACKEND={value:?} names no backend this program has; use one of {BUILT_BACKENDS}, or unset it"
        )));
    }
    Ok(())
}

/// Every adapter the instance can see.
pub fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// Picks the adapter wgpu's conventions pick: the one whose name contains `name` (or
/// `WGPU_ADAPTER_NAME`), case-insensitively, if given; else the one `request_adapter`
/// returns for `WGPU_POWER_PREF` (default: high performance).
pub fn select_adapter(instance: &wgpu::Instance, name: Option<&str>) -> Result<wgpu::Adapter, Error> {
    check_backend_env()?;
    let wanted = name.map(str::to_owned).or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok());
    if let Some(wanted) = wanted {
        let all = adapters(instance);
        let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
        return all.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&wanted.to_lowercase())).ok_or_else(
            || {
                if names.is_empty() {
                    Error::NoAdapter(NO_ADAPTER_HINT.into())
                } else {
                    Error::NoAdapter(format!("no adapter named like \"{wanted}\"; adapters seen: {}", names.join(", ")))
                }
            },
        );
    }
    let power_preference = wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance);
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|_| Error::NoAdapter(NO_ADAPTER_HINT.into()))
}

/// One piece of a batch, bound on its own: `D0 × n` inputs (feature-major within the piece)
/// and `n` labels. The fused kernels of both trainers bind a batch past one storage binding
/// this way, one dispatch a piece, each writing its partial sums after the earlier pieces'.
pub struct DataChunk {
    pub xt: wgpu::Buffer,
    pub t: wgpu::Buffer,
    pub n: usize,
}

/// The most samples one binding of `inputs` feature rows holds on this device, a multiple of
/// the workgroup size: the fused kernels' chunk (2^24 samples of two inputs on llvmpipe's
/// 128 MiB).
pub fn binding_samples(gpu: &Gpu, inputs: usize) -> usize {
    let limits = gpu.device.limits();
    let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    let wg = kernels::WG as usize;
    ((max_bytes / (4 * inputs.max(1) as u64)) as usize / wg * wg).max(wg)
}

/// `data` in chunks of `chunk` samples, each row of a chunk's inputs written straight from
/// the batch's (no host copy of the batch).
pub fn upload_chunks(gpu: &Gpu, data: &crate::data::Dataset, chunk: usize) -> Vec<DataChunk> {
    let (n, d) = (data.len(), data.inputs());
    (0..n)
        .step_by(chunk.max(1))
        .map(|a| {
            let b = (a + chunk).min(n);
            let xt = gpu.storage("xt: d0 × N (a chunk)", d * (b - a));
            for c in 0..d {
                let row = &data.xt[c * n + a..c * n + b];
                gpu.queue.write_buffer(&xt, (c * (b - a) * 4) as u64, bytemuck::cast_slice(row));
            }
            DataChunk { xt, t: gpu.storage_from("t: 1 × N (a chunk)", &data.t[a..b]), n: b - a }
        })
        .collect()
}

/// A device and its queue, with wgpu's errors collected instead of panicking. Cloning
/// shares the device (wgpu's handles are reference-counted).
#[derive(Clone)]
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter in words, see [`describe`].
    pub adapter_name: String,
    /// Errors reported outside an error scope, and device loss, as messages.
    errors: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// Opens the adapter chosen by [`select_adapter`].
    pub fn new(adapter_name: Option<&str>) -> Result<Self, Error> {
        check_backend_env()?;
        let instance = instance();
        let adapter = select_adapter(&instance, adapter_name)?;
        Self::open(adapter)
    }

    /// Opens a device on `adapter` with every limit the adapter has: wgpu's defaults cap a
    /// storage binding at 128 MiB, which a large batch outgrows.
    pub fn open(adapter: wgpu::Adapter) -> Result<Self, Error> {
        let info = adapter.get_info();
        let adapter_name = describe(&info);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("xorgpu"),
            // Timestamps where the adapter has them, for GPU time in `scale`; subgroup
            // operations, for the fused pair's sums.
            required_features: adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("cannot open a device on {adapter_name}: {e}")))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().expect("error sink").push(e.to_string());
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            sink.lock().expect("error sink").push(format!("device lost ({reason:?}): {message}"));
        });
        log::info!("adapter: {adapter_name}; driver: {} {}", info.driver, info.driver_info);
        Ok(Gpu { adapter, device, queue, adapter_name, errors })
    }

    /// Whether the adapter is a software rasteriser on the CPU (llvmpipe): the one place
    /// that decides it, for the paths, limits and memory figures that differ there.
    pub fn is_software(&self) -> bool {
        self.adapter.get_info().device_type == wgpu::DeviceType::Cpu
    }

    /// Whether this device has subgroup operations (the one place that says whether a kernel
    /// may use them).
    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and returns the
    /// first error any of them caught, tagged with `what`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let errors = [validation.pop(), oom.pop(), internal.pop()].map(pollster::block_on);
        match errors.into_iter().flatten().next() {
            Some(e) => Err(Error::Gpu(format!("{what}: {e}"))),
            None => self.check().map(|()| value),
        }
    }

    /// The first error reported outside a scope (or device loss) since the last check.
    pub fn check(&self) -> Result<(), Error> {
        let first = self.errors.lock().expect("error sink").drain(..).next();
        match first {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// A storage buffer of `len` floats (at least one, as wgpu wants a size over 0).
    pub fn storage(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data`.
    pub fn storage_from(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        let buffer = self.storage(label, data.len());
        if !data.is_empty() {
            self.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(data));
        }
        buffer
    }

    /// Blocks until everything submitted has finished, then reports any error it raised.
    pub fn wait(&self) -> Result<(), Error> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.check()
    }

    /// Waits for the queue, then copies `out.len()` floats of `src` from float `offset`
    /// through `staging` (a MAP_READ buffer at least that large). The only way data comes
    /// back: a buffer the kernels use cannot be mapped, so it is copied to one that can.
    pub fn read(
        &self,
        src: &wgpu::Buffer,
        offset: usize,
        staging: &wgpu::Buffer,
        out: &mut [f32],
    ) -> Result<(), Error> {
        let bytes = (out.len() * 4) as u64;
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read back") });
        encoder.copy_buffer_to_buffer(src, (offset * 4) as u64, staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..bytes);
        let (sender, receiver) = oneshot_channel();
        // The callback fires from inside `poll`, once the copy has finished.
        slice.map_async(wgpu::MapMode::Read, move |result| {
            sender.send(result).ok();
        });
        self.wait()?;
        match pollster::block_on(receiver.receive()) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu(format!("reading back a buffer: {e}"))),
            None => return Err(Error::Gpu("reading back a buffer: the map callback never ran".into())),
        }
        {
            let view = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading back a buffer: {e}")))?;
            out.copy_from_slice(bytemuck::cast_slice(&view));
        }
        staging.unmap();
        Ok(())
    }

    /// One submission recorded by `record` with passes that write `count` timestamps into
    /// the query set it is given; returns them in seconds. Needs TIMESTAMP_QUERY.
    pub fn timestamps(
        &self,
        what: &str,
        count: u32,
        record: impl FnOnce(&mut wgpu::CommandEncoder, &wgpu::QuerySet),
    ) -> Result<Vec<f64>, Error> {
        let (query_set, resolved) = self.scoped(what, || {
            let query_set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some(what),
                ty: wgpu::QueryType::Timestamp,
                count,
            });
            let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("resolved timestamps"),
                size: count as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
            record(&mut encoder, &query_set);
            encoder.resolve_query_set(&query_set, 0..count, &resolved, 0);
            self.queue.submit([encoder.finish()]);
            (query_set, resolved)
        })?;
        // u64 ticks, read as pairs of 32-bit words (little-endian) through the usual read-back.
        let mut words = vec![0.0f32; 2 * count as usize];
        self.read(&resolved, 0, &self.staging(words.len()), &mut words)?;
        drop(query_set);
        let period = self.queue.get_timestamp_period() as f64 * 1e-9;
        let tick = |w: &[f32]| w[0].to_bits() as u64 | (w[1].to_bits() as u64) << 32;
        Ok(words.chunks(2).map(|w| tick(w) as f64 * period).collect())
    }

    /// A MAP_READ buffer of `len` floats for [`Gpu::read`].
    pub fn staging(&self, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}
