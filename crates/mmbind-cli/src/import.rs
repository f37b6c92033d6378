use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::{GlobalArgs, Outcome};
use mmbind::config::ImageBindKwargs;
use mmbind::import::import_imagebind;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// Meta's ImageBind (`imagebind_huge.pth`, or any `ImageBindModel(...)` state_dict).
    Imagebind,
}

/// Import a checkpoint into a model directory (model.json + weights.safetensors).
///
/// Every key and shape is checked against the configuration; a missing, unexpected or
/// wrongly shaped tensor is an error naming it.
///
/// Example:
///   mmbind import imagebind --checkpoint imagebind_huge.pth --out models/imagebind-huge
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// What the checkpoint is.
    #[arg(value_enum)]
    pub kind: ImportKind,
    /// The checkpoint: a PyTorch `.pth` (as `torch.save(model.state_dict())` writes it) or
    /// `.safetensors` with the same keys.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,
    /// JSON object of `ImageBindModel(...)` keyword arguments (`vision_embed_dim`,
    /// `vision_num_blocks`, `out_embed_dim`, ...). Without it: `imagebind_huge()`.
    #[arg(long, value_name = "KWARGS.json")]
    pub config: Option<PathBuf>,
    /// The model directory to write (created if missing; its model files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print the resulting model.json summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ImportArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let ImportKind::Imagebind = args.kind;
    let kwargs = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<ImageBindKwargs>(&text).with_context(|| {
                format!(
                    "{}: not a valid ImageBindModel keyword-argument object",
                    path.display()
                )
            })?
        }
        None => ImageBindKwargs::huge(),
    };
    let start = std::time::Instant::now();
    let manifest = import_imagebind(&args.checkpoint, kwargs, &args.out)?;
    if args.json {
        let summary = serde_json::json!({
            "model": args.out,
            "content_hash": manifest.content_hash,
            "parameters": manifest.parameters,
            "modalities": manifest.config.modalities(),
            "seconds": start.elapsed().as_secs_f64(),
        });
        println!("{summary}");
    } else if !global.quiet {
        println!(
            "imported {} ({} parameters, {}) into {} in {:.1}s\ncontent hash {}",
            args.checkpoint.display(),
            manifest.parameters,
            manifest
                .config
                .modalities()
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", "),
            args.out.display(),
            start.elapsed().as_secs_f64(),
            manifest.content_hash
        );
    }
    Ok(Outcome::Ok)
}
