use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::inputs::InputArgs;
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::Embedder;
use mmbind::tensor_io::{embed_inputs, read_inputs, write_embeddings};
use mmbind::weights::{HostTensor, ModelDir, TensorMap};

/// Embed files, text or raw tensors with a model.
///
/// Files and text: one JSON line per input on stdout,
///   {"input": "a.wav", "modality": "audio", "embedding": [...]}
/// or, with --out FILE.npy / FILE.safetensors, an [N, dim] matrix in input order (inputs that
/// failed are left out) and one JSON line per row without the vector.
///
/// Raw tensors (--tensors): every `<modality>.input` tensor of a safetensors file goes
/// through its encoder and `<modality>.embedding` [batch, dim] is written to --out. Layouts
/// are ImageBind's, batch-first: vision [B,3,224,224], text int64 token ids [B,77],
/// audio [B,clips,1,128,204], depth and thermal [B,1,224,224], imu [B,6,2000] (or the
/// model's own geometry; see its model.json).
///
/// Examples:
///   mmbind embed --model models/imagebind-huge --vision photos/ --audio dog.wav --text "a dog"
///   mmbind embed --model M --tensors inputs.safetensors --out emb.safetensors
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EmbedArgs {
    /// The model directory (from `mmbind import` or `mmbind train`).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// A safetensors file of raw `<modality>.input` tensors (instead of files).
    #[arg(long, value_name = "IN.safetensors", requires = "out")]
    pub tensors: Option<PathBuf>,
    /// Write the embeddings to a file (.npy or .safetensors) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutFormat {
    Npy,
    Safetensors,
}

pub fn run(args: &EmbedArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    if args.tensors.is_some() && !args.inputs.is_empty() {
        anyhow::bail!("--tensors cannot be combined with file or text inputs");
    }
    if args.tensors.is_none() && args.inputs.is_empty() {
        anyhow::bail!(
            "nothing to embed: give inputs ({}) or --tensors",
            crate::inputs::modality_flags()
        );
    }
    let out_format = match &args.out {
        None => None,
        Some(p) => Some(match p.extension().and_then(|e| e.to_str()) {
            Some("npy") => OutFormat::Npy,
            Some("safetensors") => OutFormat::Safetensors,
            _ => anyhow::bail!(
                "--out {}: use a .npy or .safetensors file name",
                p.display()
            ),
        }),
    };
    let compute = global.compute()?;
    let (model, _) = ModelDir::new(&args.model).load(&compute.device)?;

    if let Some(tensors) = &args.tensors {
        let inputs = read_inputs(tensors)?;
        let embeddings = embed_inputs(&model, &inputs, &compute.device)?;
        let out = args
            .out
            .as_ref()
            .expect("clap requires --out with --tensors");
        write_embeddings(&embeddings, out)?;
        if !global.quiet {
            eprintln!(
                "wrote {} ({})",
                out.display(),
                embeddings.0.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        return Ok(Outcome::Ok);
    }

    let mut report = Reporter::default();
    let (items, walk_errors) = args.inputs.items();
    walk_errors.iter().for_each(|e| report.fail(e));
    let bar = progress_bar(items.len(), "embedding", global.quiet);
    let mut embedder = Embedder::new(&model, &compute.device);
    embedder.batch_size = args.batch_size;
    let results = embedder.embed_all(&items, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut rows = Vec::new();
    for (item, result) in items.iter().zip(results) {
        match result {
            Ok(embedding) => {
                let mut line =
                    serde_json::json!({"input": item.source.label(), "modality": item.modality});
                if out_format.is_some() {
                    line["row"] = rows.len().into();
                    rows.push(embedding);
                } else {
                    line["embedding"] = embedding.into();
                }
                writeln!(out, "{line}")?;
            }
            Err(e) => report.fail(e),
        }
    }
    out.flush()?;
    if let (Some(path), Some(format)) = (&args.out, out_format) {
        write_matrix(path, format, &rows)?;
    }
    report.summary("embedded", items.len() + walk_errors.len(), global.quiet);
    Ok(report.outcome())
}

fn write_matrix(
    path: &std::path::Path,
    format: OutFormat,
    rows: &[Vec<f32>],
) -> anyhow::Result<()> {
    let d = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    match format {
        OutFormat::Npy => {
            use ndarray_npy::WriteNpyExt;
            let a = ndarray::Array2::from_shape_vec((rows.len(), d), flat)?;
            // Atomically, as every file mmbind writes: an interrupted run leaves the old file.
            let write = || -> anyhow::Result<()> {
                let file = mmbind_schema::AtomicFile::create(path)?;
                a.write_npy(&file.file)?;
                Ok(file.commit()?)
            };
            write().with_context(|| format!("cannot write {}", path.display()))?;
        }
        OutFormat::Safetensors => {
            let mut map = TensorMap::default();
            map.insert("embeddings", HostTensor::new(vec![rows.len(), d], flat));
            write_embeddings(&map, path)?;
        }
    }
    Ok(())
}
