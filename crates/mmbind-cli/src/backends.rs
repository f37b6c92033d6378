//! `mmbind backends`: the compute backends and the wgpu adapters `--adapter` can name.

use clap::{Args, ValueEnum};
use mmbind::backend::adapters;

/// List the compute backends and the wgpu adapters this machine has.
///
/// Each adapter's number is what `--adapter N` takes (on any command that computes); part
/// of its name works too (`--adapter h100` when only one matches). wgpu does not read
/// CUDA_VISIBLE_DEVICES: on a multi-GPU host give each worker its own adapter. The ndarray
/// CPU backend is always there.
///
/// Examples:
///   mmbind backends
///   mmbind --adapter 1 embed --model M --files-from list.txt --out part.parquet
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct BackendsArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    /// One line per adapter.
    Table,
    /// {"backends": ["wgpu", "ndarray"], "adapters": [{"index", "name", "api",
    /// "device_type", "driver", "pci_bus_id"}]}
    Json,
}

pub fn run(args: &BackendsArgs) -> anyhow::Result<crate::Outcome> {
    let listed = adapters::list()?;
    match args.format {
        ListFormat::Json => println!(
            "{}",
            serde_json::json!({"backends": ["wgpu", "ndarray"], "adapters": listed})
        ),
        ListFormat::Table => {
            println!("ndarray  the CPU backend (always available)");
            if listed.is_empty() {
                println!(
                    "wgpu     no adapter (install a GPU driver, or Debian's mesa-vulkan-drivers)"
                );
            }
            for a in &listed {
                println!(
                    "wgpu {:>3}  {} ({}, {}){}",
                    a.index,
                    a.name,
                    a.api,
                    a.device_type,
                    if a.pci_bus_id.is_empty() {
                        String::new()
                    } else {
                        format!(" pci {}", a.pci_bus_id)
                    },
                );
            }
        }
    }
    Ok(crate::Outcome::Ok)
}
