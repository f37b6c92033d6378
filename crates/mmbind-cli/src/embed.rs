use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::file_list::{self, Shard};
use crate::inputs::InputArgs;
use crate::parquet::write_parquet;
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::{Embedder, Item};
use mmbind::tensor_io::{embed_inputs, read_inputs, write_embeddings};
use mmbind::weights::{HostTensor, ModelDir, TensorMap};

/// Embed files, text or raw tensors with a model.
///
/// Files and text: one JSON line per input on stdout,
///   {"input": "a.wav", "modality": "audio", "embedding": [...]}
/// or, with --out FILE.npy / FILE.safetensors, an [N, dim] matrix in input order (inputs that
/// failed are left out) and one JSON line per row without the vector; with --out
/// FILE.parquet, one row per input: absolute path (or inline text), modality, size, mtime,
/// BLAKE3 content hash, the model's content hash and the L2-normalised embedding (the schema
/// is the README's "Parquet embeddings"; pyarrow, DuckDB, Spark and LanceDB read it).
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
    let out_format = check(args)?;
    // Inputs are read before the model loads: a bad list costs nothing.
    let (items, unusable) = collect(args)?;
    let compute = global.compute()?;
    let (model, manifest) = ModelDir::new(&args.model).load(&compute.device)?;
    if let Some(tensors) = &args.tensors {
        return run_tensors(tensors, args, global, &model, &compute.device);
    }

    let mut report = Reporter::default();
    unusable.iter().for_each(|e| report.fail(e));
    let bar = progress_bar(items.len(), "embedding", global.quiet);
    let mut embedder = Embedder::new(&model, &compute.device);
    embedder.batch_size = args.batch_size;
    // One batch shape on wgpu: the vectors of a shard are those of the whole list's run.
    embedder.pad_batches = true;
    let results = embedder.embed_all(&items, &mut |done| bar.set_position(done as u64));
    bar.finish_and_clear();

    match (&args.out, out_format) {
        (Some(path), Some(OutFormat::Parquet)) => {
            let (dim, hash) = (manifest.config.out_dim, &manifest.content_hash);
            let rows = write_parquet(path, dim, hash, &items, results, &mut report)?;
            if !global.quiet {
                eprintln!("wrote {} ({rows} rows)", path.display());
            }
        }
        (out, format) => print_rows(out.as_deref(), format, &items, results, &mut report)?,
    }
    report.summary("embedded", items.len() + unusable.len(), global.quiet);
    Ok(report.outcome())
}

/// The flags' combinations, before anything is read; the format --out asks for.
fn check(args: &EmbedArgs) -> anyhow::Result<Option<OutFormat>> {
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
    let Some(p) = &args.out else { return Ok(None) };
    Ok(Some(match p.extension().and_then(|e| e.to_str()) {
        Some("npy") => OutFormat::Npy,
        Some("safetensors") => OutFormat::Safetensors,
        Some("parquet") if args.tensors.is_none() => OutFormat::Parquet,
        _ => anyhow::bail!(
            "--out {}: use a .parquet, .npy or .safetensors file name (--tensors: .npy or .safetensors)",
            p.display()
        ),
    }))
}

/// The inputs of the flags and the list, this shard's share of them; and a message for each
/// path that cannot be listed and each line of the list that names no input.
fn collect(args: &EmbedArgs) -> anyhow::Result<(Vec<Item>, Vec<String>)> {
    let (mut items, mut unusable) = args.inputs.items();
    let mut bad_lines = Vec::new();
    if let Some(list) = &args.files_from {
        let (listed, bad) = file_list::read(list)?;
        items.extend(listed);
        bad_lines = bad;
    }
    if let Some(shard) = args.shard {
        items.retain(|item| shard.takes(item));
        bad_lines.retain(|bad| shard.takes_line(bad));
    }
    unusable.extend(bad_lines.into_iter().map(|b| b.message));
    Ok((items, unusable))
}

/// `--tensors`: every `<modality>.input` tensor through its encoder, to --out.
fn run_tensors(
    tensors: &std::path::Path,
    args: &EmbedArgs,
    global: &GlobalArgs,
    model: &mmbind::model::Model,
    device: &mmbind::backend::Device,
) -> anyhow::Result<Outcome> {
    let inputs = read_inputs(tensors)?;
    let embeddings = embed_inputs(model, &inputs, device)?;
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
    Ok(Outcome::Ok)
}

/// One JSON line per embedded input on stdout, with its vector, or with its row of the
/// matrix written to `out`.
fn print_rows(
    out: Option<&std::path::Path>,
    format: Option<OutFormat>,
    items: &[Item],
    results: Vec<mmbind::Result<Vec<f32>>>,
    report: &mut Reporter,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut lines = std::io::BufWriter::new(stdout.lock());
    let mut rows = Vec::new();
    for (item, result) in items.iter().zip(results) {
        match result {
            Ok(embedding) => {
                let mut line =
                    serde_json::json!({"input": item.source.label(), "modality": item.modality});
                if format.is_some() {
                    line["row"] = rows.len().into();
                    rows.push(embedding);
                } else {
                    line["embedding"] = embedding.into();
                }
                writeln!(lines, "{line}")?;
            }
            Err(e) => report.fail(e),
        }
    }
    lines.flush()?;
    if let (Some(path), Some(format)) = (out, format) {
        write_matrix(path, format, &rows)?;
    }
    Ok(())
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
