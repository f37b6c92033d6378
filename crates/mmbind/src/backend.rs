//! Choosing where tensors live: wgpu on a real GPU, ndarray on the CPU otherwise.

use std::sync::OnceLock;

pub use burn::tensor::Device;
use burn::tensor::wgpu::wgpu;
use serde::Serialize;

use crate::{Error, Result};

pub mod adapters;

/// What the user asked for with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Wgpu,
    Ndarray,
}

impl crate::Choice for BackendChoice {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (
            Self::Auto,
            "auto",
            "wgpu when it finds a hardware GPU, ndarray otherwise",
        ),
        (
            Self::Wgpu,
            "wgpu",
            "wgpu (any GPU vendor; also a software Vulkan/GL driver such as lavapipe)",
        ),
        (Self::Ndarray, "ndarray", "The CPU backend"),
    ];
}

/// The device picked, and why.
#[derive(Debug, Clone)]
pub struct Compute {
    pub device: Device,
    /// `"wgpu"` or `"ndarray"`.
    pub backend: &'static str,
    /// The wgpu adapter, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)"`.
    pub adapter: Option<String>,
    /// A notice for stderr when `auto` did not get what it would have liked.
    pub notice: Option<String>,
}

/// The ndarray CPU device. burn 0.22 marks burn-ndarray deprecated in favour of `flex`, but
/// ndarray is the faster CPU backend on our measurements (512² matmul 1.6–2.0 ms against
/// 2.2–2.8 ms), so it stays the fallback until that changes.
#[allow(deprecated)]
pub fn ndarray_device() -> Device {
    Device::ndarray()
}

/// How notices and `-v` name an adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
pub(crate) fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// The wgpu adapter found at start-up (wgpu's runtime can be initialised once per process).
#[derive(Debug, Clone)]
struct WgpuProbe {
    device: Device,
    adapter: String,
    software: bool,
}

static PROBE: OnceLock<Result<WgpuProbe, String>> = OnceLock::new();

fn probe_wgpu() -> &'static Result<WgpuProbe, String> {
    PROBE.get_or_init(|| {
        // A lazily created wgpu device panics on first use when no adapter exists; an
        // explicit init fails fast instead. Guard against a panic in the driver stack too.
        let init = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        match init {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                Ok(WgpuProbe {
                    device,
                    adapter: describe(&info),
                    software: info.device_type == wgpu::DeviceType::Cpu,
                })
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the wgpu driver panicked while looking for an adapter".into()),
        }
    })
}

/// Picks the device for `choice`, on the adapter `adapter` names if given (`--adapter`: a
/// number from `mmbind backends` or part of a name; it implies wgpu).
pub fn select_on(choice: BackendChoice, adapter: Option<&str>) -> Result<Compute> {
    match (choice, adapter) {
        (_, None) => select(choice),
        (BackendChoice::Ndarray, Some(_)) => Err(Error::Backend(
            "--adapter picks a wgpu adapter; it cannot be combined with --backend ndarray".into(),
        )),
        (_, Some(wanted)) => adapters::start(wanted),
    }
}

/// Picks the device for `choice`.
///
/// `auto` never picks a software wgpu adapter (lavapipe/llvmpipe): it is correct but about
/// 15× slower than ndarray on the CPU (see docs/design.md).
pub fn select(choice: BackendChoice) -> Result<Compute> {
    match choice {
        BackendChoice::Ndarray => Ok(ndarray(None)),
        BackendChoice::Wgpu => match probe_wgpu() {
            Ok(p) => Ok(Compute {
                device: p.device.clone(),
                backend: "wgpu",
                adapter: Some(p.adapter.clone()),
                notice: None,
            }),
            Err(e) => Err(Error::Backend(format!(
                "--backend wgpu: no wgpu adapter ({e}); install a GPU driver or Debian's mesa-vulkan-drivers, or use --backend ndarray"
            ))),
        },
        // Only a hardware adapter is worth burn's wgpu runtime: once started, its server
        // thread wakes every 150 µs for the rest of the process, which slowed training on
        // ndarray by 12–20% on a 2-core machine (docs/design.md).
        BackendChoice::Auto => match list_adapters() {
            Adapters::SoftwareOnly(name) => Ok(ndarray(Some(software_notice(&name)))),
            Adapters::None => Ok(ndarray(Some(NO_ADAPTER_NOTICE.into()))),
            Adapters::ListingPanicked => Ok(ndarray(Some(
                "note: the wgpu driver panicked while listing adapters; using the ndarray CPU backend"
                    .into(),
            ))),
            Adapters::Hardware => auto_from_probe(),
        },
    }
}

fn ndarray(notice: Option<String>) -> Compute {
    Compute {
        device: ndarray_device(),
        backend: "ndarray",
        adapter: None,
        notice,
    }
}

fn software_notice(adapter: &str) -> String {
    format!(
        "note: wgpu found only a software adapter ({adapter}); using ndarray, which is faster on the CPU (--backend wgpu forces it)"
    )
}

const NO_ADAPTER_NOTICE: &str = "note: no GPU adapter found; using the ndarray CPU backend";

/// What wgpu's graphics APIs offer on this machine, asked without starting burn's runtime.
#[derive(Debug, PartialEq)]
enum Adapters {
    /// At least one adapter that is not a CPU rasterizer.
    Hardware,
    /// Only software rasterizers (lavapipe, llvmpipe); the first one's description.
    SoftwareOnly(String),
    None,
    ListingPanicked,
}

/// Sorts listed adapters the way cubecl's `auto` does: any adapter that is not a CPU
/// rasterizer is a GPU worth starting the runtime for.
fn classify(listed: impl IntoIterator<Item = wgpu::AdapterInfo>) -> Adapters {
    let mut software = None;
    for info in listed {
        if info.device_type != wgpu::DeviceType::Cpu {
            return Adapters::Hardware;
        }
        software.get_or_insert_with(|| describe(&info));
    }
    software.map_or(Adapters::None, Adapters::SoftwareOnly)
}

/// Lists the adapters of every graphics API, each through a bare instance that starts no
/// runtime. The list is a superset of the APIs cubecl's `auto` tries (Vulkan, DX12 and GL;
/// Metal on macOS): an API not compiled in lists nothing. On a GPU machine the adapters are
/// listed twice (here, then by cubecl), a few milliseconds.
///
/// Call it from one thread while no wgpu device exists, as `select` is called at start-up:
/// the Vulkan loader crashes when instances come and go on several threads at once. Once
/// burn's runtime is up (`PROBE` set), its answer is used instead.
fn list_adapters() -> Adapters {
    if let Some(probe) = PROBE.get() {
        return match probe {
            Ok(p) if p.software => Adapters::SoftwareOnly(p.adapter.clone()),
            Ok(_) => Adapters::Hardware,
            Err(_) => Adapters::None,
        };
    }
    let listed = adapters::infos();
    listed.map_or(Adapters::ListingPanicked, classify)
}

/// `auto` on a machine with a hardware adapter: burn's own choice, unless that is software.
fn auto_from_probe() -> Result<Compute> {
    match probe_wgpu() {
        Ok(p) if !p.software => Ok(Compute {
            device: p.device.clone(),
            backend: "wgpu",
            adapter: Some(p.adapter.clone()),
            notice: None,
        }),
        Ok(p) => Ok(ndarray(Some(software_notice(&p.adapter)))),
        Err(_) => Ok(ndarray(Some(NO_ADAPTER_NOTICE.into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: wgpu::DeviceType, api: wgpu::Backend) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            ..wgpu::AdapterInfo::new(device_type, api)
        }
    }

    #[test]
    fn only_an_adapter_that_is_not_a_cpu_rasterizer_starts_wgpu() {
        use wgpu::{Backend::*, DeviceType::*};
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", Cpu, Vulkan);
        let gl_llvmpipe = adapter("llvmpipe", Cpu, Gl);
        assert_eq!(
            classify([lavapipe.clone(), gl_llvmpipe.clone()]),
            Adapters::SoftwareOnly("llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".into())
        );
        assert_eq!(classify([]), Adapters::None);
        // A GPU on any API counts, wherever it is listed (a VM passing one through to GL
        // while Vulkan has only lavapipe), and so does a type wgpu cannot name.
        for gpu in [
            adapter("NVIDIA H100 80GB HBM3", DiscreteGpu, Vulkan),
            adapter("Intel(R) Iris(R) Xe", IntegratedGpu, Gl),
            adapter("virgl", VirtualGpu, Gl),
            adapter("Mali", Other, Gl),
        ] {
            assert_eq!(
                classify([lavapipe.clone(), gl_llvmpipe.clone(), gpu.clone()]),
                Adapters::Hardware,
                "{gpu:?}"
            );
        }
    }
}
