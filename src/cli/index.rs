use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use mmbind_index::{FileStat, Index, PlanOptions};
use mmbind_modalities::Modality;

use super::collect::Rules;
use super::report::{Reporter, progress_bar};
use super::{GlobalArgs, Outcome};
use crate::embed::{Embedder, Item};
use crate::search::{model_info, unit};
use crate::weights::ModelDir;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum SummaryFormat {
    /// One line on stderr.
    #[default]
    Text,
    /// One JSON object on stdout: {"index", "files", "embedded", "reused", "touched",
    /// "removed", "unchanged", "failed", "ignored", "interrupted", "generation", "approx"}.
    Json,
}

/// Index files of any modality for search, incrementally.
///
/// Walks the PATHs, picks each file's modality by extension (images → vision, audio files →
/// audio, .txt → text, .csv → imu; depth and thermal maps look like images, so name them with
/// --modality-of), embeds new and changed files in batches and stores each vector with its
/// path, modality, size, mtime and content hash in INDEX (SQLite + a search matrix).
///
/// Re-running embeds only new or changed files, drops files that are gone from the PATHs,
/// and reuses the vector of a renamed or duplicated file (same content). Every batch is
/// committed as it is embedded: Ctrl-C or a crash keeps what was done, and the next run
/// continues. An index belongs to one model; another model is refused.
///
/// Examples:
///   mmbind index --model M --index photos.idx ~/Pictures
///   mmbind index --model M --index lab.idx data/ --modality-of 'depth/*.png=depth' \
///       --modality-of '*_thermal.png=thermal' --exclude 'tmp/**'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IndexArgs {
    /// The model directory (from `mmbind import` or `mmbind train`).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The index directory (created if needed).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Files and directories to index (directories recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Skip files and directories matching GLOB (matched against trailing path components:
    /// '*.tmp', 'cache/**'). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Also walk hidden files and directories (names starting with '.').
    #[arg(long)]
    pub include_hidden: bool,
    /// Give files matching GLOB a modality, before extensions are looked at:
    /// 'depth/*.png=depth'. Repeatable; the first match wins.
    #[arg(long, value_name = "GLOB=MODALITY")]
    pub modality_of: Vec<String>,
    /// Also build the approximate (HNSW) search graph now (it is built automatically from
    /// 200,000 files).
    #[arg(long)]
    pub approx: bool,
    /// Inputs per forward pass (and per committed batch).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,
    /// When another process is updating the index, wait up to this long (default: refuse at once).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<f64>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

pub fn run(args: &IndexArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let wait = match args.wait {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            anyhow::bail!("--wait must be a number of seconds")
        }
        w => w.map(Duration::from_secs_f64),
    };
    let rules = Rules::new(&args.exclude, &args.modality_of, args.include_hidden)?;
    let model_dir = ModelDir::new(&args.model);
    let manifest = model_dir.manifest()?;
    let mut index = Index::create_or_open(&args.index, &model_info(&args.model, &manifest))?;
    let started = Instant::now();

    let mut report = Reporter::default();
    let collected = rules.collect(&args.paths)?;
    collected.errors.iter().for_each(|e| report.fail(e));
    let mut stats = Vec::with_capacity(collected.files.len());
    for (path, m) in &collected.files {
        match FileStat::from_path(path, m.name()) {
            Ok(s) => stats.push(s),
            Err(e) => report.fail(format!("{}: {e}", path.display())),
        }
    }
    let scope: Vec<String> = args
        .paths
        .iter()
        .map(|p| std::path::absolute(p).map(|p| p.to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;

    let mut writer = index.writer(wait)?;
    let plan = writer.plan_with(
        &stats,
        &PlanOptions {
            scope: Some(&scope),
            hasher: None,
        },
    )?;
    plan.failed
        .iter()
        .for_each(|(path, reason)| report.fail(format!("{path}: {reason}")));

    let stop = Arc::new(AtomicBool::new(false));
    if !plan.embed.is_empty() {
        let flag = stop.clone();
        // First Ctrl-C: finish the batch in flight, commit, and stop; the next run continues.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: saving what is embedded (Ctrl-C again quits at once; the index stays consistent)"
            );
        });
        let compute = global.compute()?;
        let (model, _) = model_dir.load(&compute.device)?;
        let mut embedder = Embedder::new(&model, &compute.device);
        embedder.batch_size = args.batch_size;
        // Batches of one modality each: one forward pass per batch.
        let mut todo: Vec<_> = plan.embed.iter().collect();
        todo.sort_by_key(|p| p.stat.modality.parse::<Modality>().ok());
        let bar = progress_bar(todo.len(), "indexing", global.quiet);
        for chunk in todo.chunks(args.batch_size) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let items: Vec<Item> = chunk
                .iter()
                .map(|p| {
                    let m = p.stat.modality.parse().expect("modality names round-trip");
                    Item::file(m, &p.stat.path)
                })
                .collect();
            let mut vectors = Vec::with_capacity(chunk.len());
            for (p, result) in chunk.iter().zip(embedder.embed_all(&items, &mut |_| {})) {
                match result.map(|e| unit(&e)) {
                    Ok(Some(v)) => vectors.push((*p, v)),
                    Ok(None) => report.fail(format!(
                        "{}: the embedding is zero or not finite",
                        p.stat.path
                    )),
                    Err(e) => report.fail(e),
                }
            }
            let batch: Vec<_> = vectors.iter().map(|(p, v)| (*p, v.as_slice())).collect();
            writer.commit_batch(&batch)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
    }
    let interrupted = stop.load(Ordering::Relaxed);
    let done = writer.finish(&plan)?;
    let approx = if args.approx && !interrupted {
        index.build_approx(wait)?.approx_built.is_some()
    } else {
        done.rebuild.approx_built.is_some()
    };

    let failed = report.failed;
    match args.format {
        SummaryFormat::Json => println!(
            "{}",
            serde_json::json!({
                "index": args.index.display().to_string(),
                "files": done.files,
                "embedded": done.embedded,
                "reused": done.reused,
                "touched": done.touched,
                "removed": done.removed,
                "unchanged": plan.unchanged,
                "failed": failed,
                "ignored": collected.ignored,
                "interrupted": interrupted,
                "generation": done.generation,
                "approx": approx,
            })
        ),
        SummaryFormat::Text if !global.quiet || failed > 0 => eprintln!(
            "{}: {} files ({} embedded, {} reused, {} updated, {} removed, {} unchanged{}{}) in {:.1}s",
            args.index.display(),
            done.files,
            done.embedded,
            done.reused,
            done.touched,
            done.removed,
            plan.unchanged,
            if failed > 0 {
                format!(", {failed} skipped (see above)")
            } else {
                String::new()
            },
            if collected.ignored > 0 {
                format!(", {} of unknown type ignored", collected.ignored)
            } else {
                String::new()
            },
            started.elapsed().as_secs_f64()
        ),
        SummaryFormat::Text => {}
    }
    if interrupted {
        eprintln!(
            "stopped after {} of {} files; run the same command again to finish",
            done.embedded,
            plan.embed.len()
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(report.outcome())
}
