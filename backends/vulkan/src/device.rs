//! [`VulkanDevice`]: a wgpu device (Vulkan, and Metal/DX12 where wgpu has them) — adapter
//! choice, storage buffers within the adapter's limits, a pipeline cache keyed by WGSL text,
//! and launches recorded into one command encoder that is submitted once per synchronization.
//! Kernels that divide integers bind a status word after their params (see
//! [`crate::wgsl::uses_status`]); [`Device::synchronize`] reads it back after kernels that bind
//! it ran, clears it, and turns a set bit into a [`DeviceError::Failed`] naming the kernel.
//! Each thread has its own status word, so concurrent runs never see each other's errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tessera_ir::kernel::{Access, Kernel, Launch};
use tessera_runtime::{Artifact, Device, DeviceBuffer, DeviceError, LoadedKernel};

use crate::target::GpuLimits;
use crate::wgsl::WgslFeatures;

/// What `tessera devices` shows about one adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Position in the list (what `TESSERA_VULKAN_ADAPTER` selects).
    pub index: usize,
    /// The adapter's name.
    pub name: String,
    /// The graphics API (`Vulkan`, `Metal`, `Dx12`).
    pub backend: String,
    /// Discrete, integrated, virtual GPU, or `Cpu` for a software rasterizer (lavapipe).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest storage buffer binding, bytes.
    pub max_binding_bytes: u64,
    /// Most invocations per workgroup.
    pub max_invocations: u32,
    /// Workgroup-shared memory, bytes.
    pub shared_bytes: u32,
    /// The optional shader features Tessera uses that it has (`f16`, `f64`, `i64`, `subgroups`).
    pub features: Vec<&'static str>,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .filter(|a| a.get_info().backend != wgpu::Backend::Gl)
        .collect()
}

fn summary(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let l = a.limits();
    let f = a.features();
    let mut features = Vec::new();
    for (flag, name) in [
        (wgpu::Features::SHADER_F16, "f16"),
        (wgpu::Features::SHADER_F64, "f64"),
        (wgpu::Features::SHADER_INT64, "i64"),
        (wgpu::Features::SUBGROUP, "subgroups"),
    ] {
        if f.contains(flag) {
            features.push(name);
        }
    }
    AdapterSummary {
        index,
        name: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_binding_bytes: l.max_storage_buffer_binding_size,
        max_invocations: l.max_compute_invocations_per_workgroup,
        shared_bytes: l.max_compute_workgroup_storage_size,
        features,
    }
}

/// Every adapter wgpu finds (OpenGL ones left out), in the order `TESSERA_VULKAN_ADAPTER`
/// counts them.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let inst = instance();
    adapters(&inst)
        .iter()
        .enumerate()
        .map(|(i, a)| summary(i, a))
        .collect()
}

/// Errors wgpu reports outside error scopes, kept until the next synchronization.
type ErrorSlot = Arc<Mutex<Option<String>>>;

/// A pipeline ready to dispatch, with its parameters' access modes.
struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    access: Vec<Access>,
    /// Binds the status word at binding `access.len()`.
    status: bool,
}

/// A wgpu device and queue with Tessera's buffers and kernels.
pub struct VulkanDevice {
    device: wgpu::Device,
    queue: wgpu::Queue,
    summary: AdapterSummary,
    features: WgslFeatures,
    limits: GpuLimits,
    max_buffer_bytes: u64,
    /// Launches recorded since the last submission.
    pending: Mutex<Option<wgpu::CommandEncoder>>,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    errors: ErrorSlot,
    /// The status words kernels that divide integers set bits of: one per thread that
    /// launches such kernels, so concurrent runs of one device (an `Executable` is callable
    /// from many threads) never see each other's errors — a run launches and synchronizes on
    /// its own thread.
    status: Mutex<HashMap<std::thread::ThreadId, StatusWord>>,
    /// Held by every `Device` method: wgpu error scopes, the pending encoder and the error
    /// slot are per device, so calls from several threads must not interleave.
    serial: Mutex<()>,
}

/// One thread's status word and the kernels launched with it bound since that thread last
/// synchronized.
struct StatusWord {
    buffer: wgpu::Buffer,
    kernels: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VulkanDevice {
    /// Opens an adapter: the one `TESSERA_VULKAN_ADAPTER=N` names, else the first hardware
    /// GPU, else the first adapter (a software one such as lavapipe). The error says why none
    /// could be opened.
    pub fn open() -> Result<Self, String> {
        let inst = instance();
        let found = adapters(&inst);
        if found.is_empty() {
            return Err("no Vulkan/Metal/DX12 adapter found (is a Vulkan driver such as mesa-vulkan-drivers installed?)".into());
        }
        let chosen = match std::env::var("TESSERA_VULKAN_ADAPTER") {
            Ok(s) => {
                let i: usize = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("TESSERA_VULKAN_ADAPTER=`{s}` is not an index"))?;
                if i >= found.len() {
                    return Err(format!(
                        "TESSERA_VULKAN_ADAPTER={i}, but only {} adapter(s) exist",
                        found.len()
                    ));
                }
                i
            }
            Err(_) => found
                .iter()
                .position(|a| a.get_info().device_type != wgpu::DeviceType::Cpu)
                .unwrap_or(0),
        };
        let adapter = &found[chosen];
        let summary = summary(chosen, adapter);
        let wanted = wgpu::Features::SHADER_F16
            | wgpu::Features::SHADER_F64
            | wgpu::Features::SHADER_INT64
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tessera"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| format!("{}: requesting a device failed: {e}", summary.name))?;
        let errors: ErrorSlot = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = lock(&sink);
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let wgsl = WgslFeatures {
            f16: features.contains(wgpu::Features::SHADER_F16),
            f64: features.contains(wgpu::Features::SHADER_F64),
            int64: features.contains(wgpu::Features::SHADER_INT64),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
        };
        let info = adapter.get_info();
        let gpu_limits = GpuLimits {
            max_invocations: limits.max_compute_invocations_per_workgroup,
            max_group_dims: [
                limits.max_compute_workgroup_size_x,
                limits.max_compute_workgroup_size_y,
                limits.max_compute_workgroup_size_z,
            ],
            max_groups_per_dim: limits.max_compute_workgroups_per_dimension,
            shared_bytes: limits.max_compute_workgroup_storage_size,
            max_binding_bytes: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            max_storage_buffers: limits.max_storage_buffers_per_shader_stage,
            // The smallest width the driver may pick (lavapipe: 8; NVIDIA: 32; AMD: 32 or 64).
            subgroup_size: if wgsl.subgroups {
                info.subgroup_min_size
            } else {
                0
            },
        };
        Ok(VulkanDevice {
            device,
            queue,
            status: Mutex::new(HashMap::new()),
            summary,
            features: wgsl,
            limits: gpu_limits,
            max_buffer_bytes: limits.max_buffer_size,
            pending: Mutex::new(None),
            pipelines: Mutex::new(HashMap::new()),
            serial: Mutex::new(()),
            errors,
        })
    }

    /// The adapter this device runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }

    /// True for a software adapter (lavapipe, SwiftShader, WARP).
    pub fn is_software(&self) -> bool {
        self.summary.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }

    /// The WGSL features kernels for this device may use.
    pub fn features(&self) -> WgslFeatures {
        self.features
    }

    /// The limits kernels for this device must respect.
    pub fn limits(&self) -> GpuLimits {
        self.limits
    }

    /// Compiled pipelines held by the cache.
    pub fn cached_pipelines(&self) -> usize {
        lock(&self.pipelines).len()
    }

    fn failed(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::Failed {
            device: self.name(),
            message: message.into(),
        }
    }

    /// The first error wgpu reported since the last check.
    fn take_error(&self) -> Result<(), DeviceError> {
        match lock(&self.errors).take() {
            Some(m) => Err(self.failed(m)),
            None => Ok(()),
        }
    }

    /// Submits the recorded launches (if any).
    fn flush(&self) {
        if let Some(enc) = lock(&self.pending).take() {
            self.queue.submit([enc.finish()]);
        }
    }

    fn wait(&self) -> Result<(), DeviceError> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| self.failed(format!("waiting for the queue: {e}")))?;
        self.take_error()
    }

    fn buffer<'b>(&self, buf: &'b DeviceBuffer) -> Result<&'b wgpu::Buffer, DeviceError> {
        buf.handle
            .downcast_ref::<wgpu::Buffer>()
            .ok_or_else(|| self.failed("a buffer of another device was passed"))
    }

    fn new_buffer(&self, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage,
            mapped_at_creation: false,
        })
    }
}

/// `bytes` rounded up to a whole number of 4-byte words, at least one (bindings may not be
/// empty and copies move whole words).
fn padded(bytes: usize) -> u64 {
    (bytes.max(1) as u64).div_ceil(4) * 4
}

impl Device for VulkanDevice {
    fn name(&self) -> String {
        format!(
            "{} ({}, {}, {})",
            self.summary.name, self.summary.backend, self.summary.device_type, self.summary.driver
        )
    }

    fn memory_bytes(&self) -> Option<u64> {
        None
    }

    fn alloc(&self, bytes: usize) -> Result<DeviceBuffer, DeviceError> {
        let _serial = lock(&self.serial);
        let size = padded(bytes);
        let limit = self.limits.max_binding_bytes.min(self.max_buffer_bytes);
        if size > limit {
            return Err(DeviceError::TooLarge {
                device: self.name(),
                bytes,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buf = self.new_buffer(
            size,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        );
        if pollster::block_on(scope.pop()).is_some() {
            return Err(DeviceError::OutOfMemory {
                device: self.name(),
                bytes,
            });
        }
        Ok(DeviceBuffer {
            bytes,
            handle: Arc::new(buf),
        })
    }

    fn write(&self, buf: &DeviceBuffer, data: &[u8]) -> Result<(), DeviceError> {
        let _serial = lock(&self.serial);
        if data.len() > buf.bytes {
            return Err(self.failed(format!(
                "writing {} bytes into a {}-byte buffer",
                data.len(),
                buf.bytes
            )));
        }
        if data.is_empty() {
            return Ok(());
        }
        let b = self.buffer(buf)?;
        // Queue writes run before the next submission's commands: submit recorded launches
        // first so that the write lands after them.
        self.flush();
        if data.len().is_multiple_of(4) {
            self.queue.write_buffer(b, 0, data);
        } else {
            let mut padded_data = data.to_vec();
            padded_data.resize(padded(data.len()) as usize, 0);
            self.queue.write_buffer(b, 0, &padded_data);
        }
        Ok(())
    }

    fn read(&self, buf: &DeviceBuffer, out: &mut [u8]) -> Result<(), DeviceError> {
        let _serial = lock(&self.serial);
        if out.len() > buf.bytes {
            return Err(self.failed(format!(
                "reading {} bytes from a {}-byte buffer",
                out.len(),
                buf.bytes
            )));
        }
        if out.is_empty() {
            return Ok(());
        }
        let src = self.buffer(buf)?;
        // Recorded launches and the copy go in one submission.
        let enc = lock(&self.pending).take().unwrap_or_else(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        });
        self.read_back(enc, src, out, "a read-back buffer")
    }

    fn load(&self, kernel: &Kernel, artifact: &Artifact) -> Result<LoadedKernel, DeviceError> {
        let _serial = lock(&self.serial);
        let Artifact::Text {
            language: "wgsl",
            code,
        } = artifact
        else {
            return Err(self.failed(format!(
                "kernel `{}`: expected a WGSL artifact, got {artifact:?}",
                kernel.name
            )));
        };
        if let Some(p) = lock(&self.pipelines).get(code) {
            return Ok(LoadedKernel {
                name: kernel.name.clone(),
                handle: Arc::clone(p) as Arc<dyn std::any::Any + Send + Sync>,
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&kernel.name),
                source: wgpu::ShaderSource::Wgsl(code.as_str().into()),
            });
        // An explicit layout: every parameter is bound, even one the shader never touches,
        // then the status word where the shader declares it.
        let status = crate::wgsl::uses_status(code);
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .params
            .iter()
            .map(|p| p.access == Access::Read)
            .chain(status.then_some(false))
            .enumerate()
            .map(|(i, read_only)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&kernel.name),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&kernel.name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&kernel.name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(self.failed(format!(
                "kernel `{}` did not load: {e}\n--- WGSL ---\n{code}",
                kernel.name
            )));
        }
        let p = Arc::new(Pipeline {
            pipeline,
            layout,
            access: kernel.params.iter().map(|p| p.access).collect(),
            status,
        });
        lock(&self.pipelines).insert(code.clone(), Arc::clone(&p));
        Ok(LoadedKernel {
            name: kernel.name.clone(),
            handle: p,
        })
    }

    fn launch(
        &self,
        kernel: &LoadedKernel,
        launch: &Launch,
        args: &[DeviceBuffer],
    ) -> Result<(), DeviceError> {
        let _serial = lock(&self.serial);
        let p = kernel
            .handle
            .downcast_ref::<Pipeline>()
            .ok_or_else(|| self.failed(format!("kernel `{}` was not loaded here", kernel.name)))?;
        if args.len() != p.access.len() {
            return Err(self.failed(format!(
                "kernel `{}` takes {} buffers, {} given",
                kernel.name,
                p.access.len(),
                args.len()
            )));
        }
        let mut grid = [1u32; 3];
        for (i, &g) in launch.grid.iter().enumerate().take(3) {
            grid[i] = u32::try_from(g)
                .ok()
                .filter(|&g| g <= self.limits.max_groups_per_dim)
                .ok_or_else(|| {
                    self.failed(format!(
                        "kernel `{}`: {g} workgroups along axis {i} (limit {})",
                        kernel.name, self.limits.max_groups_per_dim
                    ))
                })?;
        }
        if grid.contains(&0) {
            return Ok(());
        }
        let mut bufs = Vec::with_capacity(args.len());
        for a in args {
            bufs.push(self.buffer(a)?.clone());
        }
        let mut pending = lock(&self.pending);
        let enc = pending.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        });
        // A buffer bound twice, once writable, would be a usage conflict: the read-only
        // binding gets a copy made just before the dispatch.
        for i in 0..bufs.len() {
            let aliased_with_writer = (0..bufs.len()).any(|j| {
                j != i && bufs[j] == bufs[i] && (p.access[i].can_store() || p.access[j].can_store())
            });
            if aliased_with_writer && !p.access[i].can_store() {
                let copy = self.new_buffer(
                    bufs[i].size(),
                    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                );
                enc.copy_buffer_to_buffer(&bufs[i], 0, &copy, 0, bufs[i].size());
                bufs[i] = copy;
            }
        }
        // This thread's status word (made on its first use; wgpu zero-initializes buffers).
        let status = p.status.then(|| {
            let mut words = lock(&self.status);
            let word = words
                .entry(std::thread::current().id())
                .or_insert_with(|| StatusWord {
                    buffer: self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("tessera status"),
                        size: 4,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                    kernels: Vec::new(),
                });
            if !word.kernels.contains(&kernel.name) {
                word.kernels.push(kernel.name.clone());
            }
            word.buffer.clone()
        });
        let entries: Vec<wgpu::BindGroupEntry<'_>> = bufs
            .iter()
            .chain(status.as_ref())
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &p.layout,
            entries: &entries,
        });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        drop(pending);
        self.take_error()
    }

    fn synchronize(&self) -> Result<(), DeviceError> {
        let _serial = lock(&self.serial);
        self.flush();
        self.wait()?;
        // Only this thread's kernels: another thread's run reads its own word.
        let (buffer, names) = {
            let mut words = lock(&self.status);
            match words.get_mut(&std::thread::current().id()) {
                Some(w) if !w.kernels.is_empty() => {
                    (w.buffer.clone(), std::mem::take(&mut w.kernels))
                }
                _ => return Ok(()),
            }
        };
        let word = self.read_status(&buffer)?;
        if word == 0 {
            return Ok(());
        }
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.clear_buffer(&buffer, 0, None);
        self.queue.submit([enc.finish()]);
        self.wait()?;
        let what = if word & crate::wgsl::STATUS_DIV_ZERO != 0 {
            "integer division by zero"
        } else {
            "an unknown status bit"
        };
        let kernels = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let which = if names.len() == 1 {
            format!("kernel {kernels}")
        } else {
            format!("one of the kernels {kernels}")
        };
        Err(self.failed(format!("{which} reported: {what} (status {word:#x})")))
    }
}

impl VulkanDevice {
    /// A status word's value (after the queue is idle).
    fn read_status(&self, buffer: &wgpu::Buffer) -> Result<u32, DeviceError> {
        let enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let mut word = [0u8; 4];
        self.read_back(enc, buffer, &mut word, "the status word")?;
        Ok(u32::from_le_bytes(word))
    }

    /// Copies the first `out.len()` bytes of `src` into `out` through a mappable staging
    /// buffer: the copy is recorded after whatever `enc` holds, submitted with it, and waited
    /// for. `what` names the buffer in errors.
    fn read_back(
        &self,
        mut enc: wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        out: &mut [u8],
        what: &str,
    ) -> Result<(), DeviceError> {
        let size = padded(out.len());
        let staging = self.new_buffer(
            size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.failed(format!("mapping {what}: {e}"))),
            Err(_) => return Err(self.failed(format!("{what} was never mapped"))),
        }
        {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| self.failed(format!("mapping {what}: {e}")))?;
            out.copy_from_slice(&view[..out.len()]);
        }
        staging.unmap();
        Ok(())
    }
}
