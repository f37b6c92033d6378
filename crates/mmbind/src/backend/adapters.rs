//! The wgpu adapters of this machine, numbered, and starting burn's runtime on one of them
//! (`--adapter N|NAME`, `mmbind backends`).
//!
//! wgpu does not read `CUDA_VISIBLE_DEVICES`, so a worker of a multi-GPU host names its GPU
//! here. burn's own selector (`DeviceKind`) reaches an adapter by type and index among that
//! type, and only the first CPU adapter of an API; so mmbind opens the adapter itself, the
//! way cubecl does (same features, limits and memory hints), and registers it with burn as
//! an existing setup. Every listed adapter can be chosen, by its position in the list.

use burn::tensor::Device;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use serde::Serialize;

use super::{Compute, describe};
use crate::{Error, Result};

/// One adapter as `mmbind backends` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Adapter {
    /// Its number for `--adapter`.
    pub index: usize,
    pub name: String,
    /// "Vulkan", "Metal", "Dx12" or "Gl".
    pub api: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" or "Other".
    pub device_type: String,
    pub driver: String,
    /// The PCI bus id where the driver reports one (matches `nvidia-smi`'s).
    pub pci_bus_id: String,
    /// Its graphics API and position in that API's own list.
    #[serde(skip)]
    address: (wgpu::Backend, usize),
}

const APIS: [wgpu::Backend; 4] = [
    wgpu::Backend::Vulkan,
    wgpu::Backend::Metal,
    wgpu::Backend::Dx12,
    wgpu::Backend::Gl,
];

/// What every graphics API lists, in API order, each through a bare instance that starts no
/// runtime (see `list_adapters` for why from one thread, before any device exists).
pub(super) fn infos() -> std::thread::Result<Vec<wgpu::AdapterInfo>> {
    std::panic::catch_unwind(|| {
        let mut infos = Vec::new();
        for api in APIS {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: api.into(),
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            let adapters = pollster::block_on(instance.enumerate_adapters(api.into()));
            infos.extend(adapters.iter().map(wgpu::Adapter::get_info));
        }
        infos
    })
}

/// The adapters, numbered; an error when the driver stack panics while listing them.
pub fn list() -> Result<Vec<Adapter>> {
    let infos = infos()
        .map_err(|_| Error::Backend("the wgpu driver panicked while listing adapters".into()))?;
    Ok(number(infos))
}

/// Numbers `infos` (listed API by API, each API's in its own order).
fn number(infos: Vec<wgpu::AdapterInfo>) -> Vec<Adapter> {
    let mut out: Vec<Adapter> = Vec::with_capacity(infos.len());
    for (index, info) in infos.into_iter().enumerate() {
        let nth = out.iter().filter(|a| a.address.0 == info.backend).count();
        out.push(Adapter {
            index,
            name: info.name.clone(),
            api: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            pci_bus_id: info.device_pci_bus_id.clone(),
            address: (info.backend, nth),
        });
    }
    out
}

/// The adapter `wanted` names among `adapters`: its number, else the one adapter whose name
/// contains it (any case).
pub fn find<'a>(adapters: &'a [Adapter], wanted: &str) -> Result<&'a Adapter> {
    let listing = || {
        if adapters.is_empty() {
            "wgpu sees no adapter (install a GPU driver, or Debian's mesa-vulkan-drivers)".into()
        } else {
            format!(
                "`mmbind backends` lists: {}",
                adapters
                    .iter()
                    .map(|a| format!("{} {} ({}, {})", a.index, a.name, a.api, a.device_type))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    };
    let found = match wanted.trim().parse::<usize>() {
        Ok(n) => adapters.get(n).ok_or_else(|| {
            Error::Backend(format!("--adapter {n}: no such adapter; {}", listing()))
        })?,
        Err(_) => {
            let needle = wanted.trim().to_lowercase();
            let matches: Vec<_> = (adapters.iter())
                .filter(|a| !needle.is_empty() && a.name.to_lowercase().contains(&needle))
                .collect();
            match matches[..] {
                [one] => one,
                [] => {
                    return Err(Error::Backend(format!(
                        "--adapter '{wanted}': no adapter's name contains it; {}",
                        listing()
                    )));
                }
                _ => {
                    return Err(Error::Backend(format!(
                        "--adapter '{wanted}': {} adapters match (give a number); {}",
                        matches.len(),
                        listing()
                    )));
                }
            }
        }
    };
    Ok(found)
}

/// Starts burn's wgpu runtime on the adapter `wanted` names.
pub fn start(wanted: &str) -> Result<Compute> {
    let adapters = list()?;
    let adapter = find(&adapters, wanted)?;
    let fail = |why: String| {
        Error::Backend(format!(
            "--adapter {wanted}: cannot start wgpu on {} ({}): {why}",
            adapter.name, adapter.api
        ))
    };
    let setup = std::panic::catch_unwind(|| open(adapter.address))
        .map_err(|_| fail("the driver panicked".into()))?
        .map_err(fail)?;
    let described = describe(&setup.adapter.get_info());
    let device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| fail(e.to_string()))?;
    Ok(Compute {
        device,
        backend: "wgpu",
        adapter: Some(described),
        notice: None,
    })
}

/// Opens the `nth` adapter of `api` as cubecl opens the one it picks (without SPIR-V
/// passthrough, which this build does not enable): every feature the adapter has but
/// mappable primary buffers, its own limits, memory hints for low usage.
fn open((api, nth): (wgpu::Backend, usize)) -> std::result::Result<WgpuSetup, String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: api.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = pollster::block_on(instance.enumerate_adapters(api.into()))
        .into_iter()
        .nth(nth)
        .ok_or("the adapter went away")?;
    let descriptor = wgpu::DeviceDescriptor {
        label: None,
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: adapter.limits(),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        trace: wgpu::Trace::Off,
        // SAFETY: what cubecl enables for its own devices (passthrough shaders), so that the
        // kernels compiled for this device are the ones compiled for an acquired one.
        experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
    };
    let (device, queue) =
        pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| e.to_string())?;
    Ok(WgpuSetup {
        instance,
        adapter,
        device,
        queue,
        backend: api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, t: wgpu::DeviceType, api: wgpu::Backend) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            ..wgpu::AdapterInfo::new(t, api)
        }
    }

    #[test]
    fn adapters_are_numbered_across_apis_and_found_by_number_or_name() {
        use wgpu::{Backend::*, DeviceType::*};
        let listed = number(vec![
            info("NVIDIA H100 a", DiscreteGpu, Vulkan),
            info("llvmpipe", Cpu, Vulkan),
            info("NVIDIA H100 b", DiscreteGpu, Vulkan),
            info("llvmpipe copy", Cpu, Vulkan),
            info("Mali", Other, Gl),
        ]);
        let addr: Vec<_> = listed.iter().map(|a| a.address).collect();
        assert_eq!(
            addr,
            [(Vulkan, 0), (Vulkan, 1), (Vulkan, 2), (Vulkan, 3), (Gl, 0)]
        );
        assert_eq!(find(&listed, "2").unwrap().name, "NVIDIA H100 b");
        assert_eq!(find(&listed, " MALI ").unwrap().index, 4);
        assert_eq!(find(&listed, "copy").unwrap().index, 3);
        let err = |w: &str| find(&listed, w).unwrap_err().to_string();
        assert!(err("h100").contains("2 adapters match"), "{}", err("h100"));
        assert!(err("9").contains("no such adapter"));
        assert!(err("9").contains("0 NVIDIA H100 a (Vulkan, DiscreteGpu)"));
        assert!(err("tpu").contains("no adapter's name"));
        assert!(
            find(&[], "0")
                .unwrap_err()
                .to_string()
                .contains("sees no adapter")
        );
    }
}
