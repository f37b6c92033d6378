use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::file_list::{self, Shard};
use crate::inputs::InputArgs;
use crate::parquet::{PartWriter, Row};
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::{Embedder, Item};
use mmbind::tensor_io::{embed_inputs, read_inputs, write_embeddings};
use mmbind::vector::unit;
use mmbind::weights::{HostTensor, ModelDir, TensorMap};
use mmbind_index::{ContentHash, FileStat, hash_file};
use mmbind_modalities::Source;

/// Embed files, text or raw tensors with a model.
///
/// Files and text: one JSON line per input on stdout,
///   {"input": "a.wav", "modality": "audio", "embedding": [...]}
/// or, with --out FILE.npy / FILE.safetensors, an [N, dim] matrix in input order (inputs that
/// failed are left out) and one JSON line per row without the vector; with --out
/// FILE.parquet, one row per input: absolute path (or inline text), modality, size, mtime,
/// BLAKE3 content hash, the model's content hash and the L2-normalised embedding (the schema
/// is in docs/scale.md; pyarrow, DuckDB, Spark and LanceDB read it).
///
/// Many workers: --files-from takes the inputs from a list (one PATH or MODALITY<TAB>PATH per
/// line, `-` for stdin) and --shard I/N keeps the stable 1/N of them worker I takes, so that
/// N workers given the same list embed every input exactly once, and (on wgpu, every batch
/// padded to --batch-size) each input's vector is the one a single run gives, bit for bit.
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
///   mmbind --adapter 1 embed --model M --files-from all.txt --shard 1/8 --out part-1.parquet
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
    /// Also embed the inputs listed in FILE (`-`: stdin): one PATH per line (the modality
    /// from its extension) or MODALITY<TAB>PATH.
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Embed only worker I's share of the inputs (I from 0 to N-1): a stable split by a hash
    /// of each input, so that N workers with the same inputs cover them exactly once.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Write the embeddings to a file (.parquet, .npy or .safetensors) instead of stdout.
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
    Parquet,
}

pub fn run(args: &EmbedArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    if args.tensors.is_some() && !args.inputs.is_empty() {
        anyhow::bail!("--tensors cannot be combined with file or text inputs");
    }
    if args.tensors.is_some() && (args.files_from.is_some() || args.shard.is_some()) {
        anyhow::bail!("--tensors cannot be combined with --files-from or --shard");
    }
    if args.tensors.is_none() && args.inputs.is_empty() && args.files_from.is_none() {
        anyhow::bail!(
            "nothing to embed: give inputs ({}, --files-from) or --tensors",
            crate::inputs::modality_flags()
        );
    }
    let out_format = match &args.out {
        None => None,
        Some(p) => Some(match p.extension().and_then(|e| e.to_str()) {
            Some("npy") => OutFormat::Npy,
            Some("safetensors") => OutFormat::Safetensors,
            Some("parquet") if args.tensors.is_none() => OutFormat::Parquet,
            _ => anyhow::bail!(
                "--out {}: use a .parquet, .npy or .safetensors file name (--tensors: .npy or .safetensors)",
                p.display()
            ),
        }),
    };
    // Inputs are read before the model loads: a bad list costs nothing.
    let mut report = Reporter::default();
    let (mut items, walk_errors) = args.inputs.items();
    let mut listed_errors: Vec<file_list::BadLine> = Vec::new();
    if let Some(list) = &args.files_from {
        let (listed, errors) = file_list::read(list)?;
        items.extend(listed);
        listed_errors = errors;
    }
    if let Some(shard) = args.shard {
        items.retain(|item| shard.takes(item));
        listed_errors.retain(|bad| shard.takes_line(bad));
    }
    let listed_errors: Vec<String> = listed_errors.into_iter().map(|b| b.message).collect();
    let compute = global.compute()?;
    let (model, manifest) = ModelDir::new(&args.model).load(&compute.device)?;

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

    walk_errors
        .iter()
        .chain(&listed_errors)
        .for_each(|e| report.fail(e));
    let bar = progress_bar(items.len(), "embedding", global.quiet);
    let mut embedder = Embedder::new(&model, &compute.device);
    embedder.batch_size = args.batch_size;
    // One batch shape on wgpu: the vectors of a shard are those of the whole list's run.
    embedder.pad_batches = true;
    let results = embedder.embed_all(&items, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();

    if let (Some(path), Some(OutFormat::Parquet)) = (&args.out, out_format) {
        let dim = manifest.config.out_dim;
        let rows = write_parquet(
            path,
            dim,
            &manifest.content_hash,
            &items,
            results,
            &mut report,
        )?;
        if !global.quiet {
            eprintln!("wrote {} ({rows} rows)", path.display());
        }
        let failed = walk_errors.len() + listed_errors.len();
        report.summary("embedded", items.len() + failed, global.quiet);
        return Ok(report.outcome());
    }
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
    let failed = walk_errors.len() + listed_errors.len();
    report.summary("embedded", items.len() + failed, global.quiet);
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
        OutFormat::Parquet => unreachable!("written by write_parquet"),
        OutFormat::Safetensors => {
            let mut map = TensorMap::default();
            map.insert("embeddings", HostTensor::new(vec![rows.len(), d], flat));
            write_embeddings(&map, path)?;
        }
    }
    Ok(())
}

/// Writes one Parquet row per embedded input (unit vector, file facts, model hash); an input
/// whose file cannot be examined after embedding is reported and left out. The rows written.
fn write_parquet(
    path: &std::path::Path,
    dim: usize,
    model_hash: &str,
    items: &[Item],
    results: Vec<mmbind::Result<Vec<f32>>>,
    report: &mut Reporter,
) -> anyhow::Result<usize> {
    let mut part = PartWriter::create(path, dim, model_hash)?;
    for (item, result) in items.iter().zip(results) {
        let row = result
            .map_err(|e| e.to_string())
            .and_then(|e| row_of(item, &e, model_hash));
        match row {
            Ok(row) => part.push(row)?,
            Err(e) => report.fail(e),
        }
    }
    part.finish()
}

/// The Parquet row of `item` embedded as `e`.
fn row_of(item: &Item, e: &[f32], model_hash: &str) -> Result<Row, String> {
    let label = item.source.label();
    let embedding =
        unit(e).ok_or_else(|| format!("{label}: the embedding is zero or not finite"))?;
    let modality = item.modality.name().to_string();
    let model_hash = model_hash.to_string();
    Ok(match &item.source {
        Source::Text(t) => Row {
            path: None,
            text: Some(t.clone()),
            modality,
            size: t.len() as u64,
            mtime_ns: None,
            content_hash: ContentHash::of_bytes(t.as_bytes()).0,
            model_hash,
            embedding,
        },
        Source::File(p) => {
            let why = |e: std::io::Error| format!("{label}: {e}");
            let absolute = std::path::absolute(p).map_err(why)?;
            let stat = FileStat::from_path(&absolute, &modality).map_err(why)?;
            Row {
                path: Some(stat.path),
                text: None,
                modality,
                size: stat.size,
                mtime_ns: Some(stat.mtime_ns),
                content_hash: hash_file(&absolute).map_err(why)?.0,
                model_hash,
                embedding,
            }
        }
    })
}
