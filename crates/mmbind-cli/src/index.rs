use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use mmbind_index::path_text::{self, display};
use mmbind_index::{FileStat, FileState, Index, Plan, PlanOptions, Writer};
use mmbind_modalities::Modality;

use crate::collect::Rules;
use crate::report::{Reporter, progress_bar};
use crate::{GlobalArgs, Outcome};
use mmbind::backend::Compute;
use mmbind::embed::{Embedder, Item};
use mmbind::model::Model;
use mmbind::search::model_info;
use mmbind::vector::unit;
use mmbind::weights::ModelDir;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum SummaryFormat {
    /// One line on stderr (with --check: the findings on stdout).
    #[default]
    Text,
    /// One JSON object on stdout: {"index", "files", "embedded", "reused", "touched",
    /// "removed", "unchanged", "failed", "ignored", "interrupted", "generation", "approx"};
    /// with --check: {"index", "clean", "files", "vectors", "orphan_vectors", "generation",
    /// "sqlite", "bad_files", "damaged_vectors", "unverified_vectors", "matrix", "approx",
    /// "damage", "repaired"}.
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
/// continues. An index belongs to one model; another model is refused. Files under a
/// directory that cannot be read stay indexed; only regular files are read.
///
/// Every index file carries checksums. --check verifies them all (exit 0: clean, 1: damage
/// found, repaired or not, 2: the check could not run), rebuilds the search files from the
/// database when they do not verify, and names the files whose stored vectors are damaged;
/// --repair also drops those from the index, so that the next run embeds them again.
///
/// Examples:
///   mmbind index --model M --index photos.idx ~/Pictures
///   mmbind index --model M --index lab.idx data/ --modality-of 'depth/*.png=depth' \
///       --modality-of '*_thermal.png=thermal' --exclude 'tmp/**'
///   mmbind index --index photos.idx --check [--repair]
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct IndexArgs {
    /// The model directory (from `mmbind import` or `mmbind train`).
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    pub model: Option<PathBuf>,
    /// The index directory (created if needed).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Files and directories to index (directories recursively).
    #[arg(
        required_unless_present = "check",
        conflicts_with = "check",
        value_name = "PATH"
    )]
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
    #[arg(long, conflicts_with = "check")]
    pub approx: bool,
    /// Verify the index instead of updating it: SQLite's integrity check, every stored
    /// vector's checksum, the search matrix and the HNSW graph block by block. Rebuilds the
    /// search matrix and graph from the database when they do not verify (or are stale), and
    /// names the files whose stored vectors are damaged. Exit 0: clean; 1: damage found.
    #[arg(long)]
    pub check: bool,
    /// With --check: also drop the files whose stored vectors are damaged (and unreadable
    /// rows) from the index, so that indexing their directories again embeds them anew.
    #[arg(long, requires = "check")]
    pub repair: bool,
    /// Inputs per forward pass (and per committed batch).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,
    /// When another process is updating the index, wait up to this long (default: refuse at once).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<f64>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// Prints the damage the index found and dealt with (derived files rebuilt, vectors left out
/// or dropped), one line each.
fn print_warnings(index: &Index) {
    for w in index.take_warnings() {
        eprintln!("warning: {w}");
    }
}

/// The model, loaded the first time something must be embedded.
struct Loaded {
    compute: Compute,
    model: Model,
}

/// Counts over the passes of one run.
#[derive(Default)]
struct Totals {
    embedded: usize,
    reused: usize,
    touched: usize,
    removed: usize,
    unchanged: usize,
    planned: usize,
}

pub fn run(args: &IndexArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    if args.check {
        return check(args);
    }
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let wait = wait_of(args)?;
    let rules = Rules::new(&args.exclude, &args.modality_of, args.include_hidden)?;
    let model_path = args.model.as_deref().expect("clap requires --model");
    let model_dir = ModelDir::new(model_path);
    let manifest = model_dir.manifest()?;
    let mut index = Index::create_or_open(&args.index, &model_info(model_path, &manifest))?;
    let started = Instant::now();

    let mut report = Reporter::default();
    let collected = rules.collect(&args.paths)?;
    collected.errors.iter().for_each(|e| report.fail(e));
    // What could not be seen is not gone: its indexed files are kept.
    let mut keep: Vec<String> = (collected.unreadable.iter())
        .map(|p| path_text::encode(p).into_owned())
        .collect();
    let mut stats = Vec::with_capacity(collected.files.len());
    for (path, m) in &collected.files {
        match FileStat::from_path(path, m.name()) {
            Ok(s) => stats.push(s),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    keep.push(path_text::encode(path).into_owned());
                }
                report.fail(format!("{}: {e}", path.display()))
            }
        }
    }
    let scope: Vec<String> = args
        .paths
        .iter()
        .map(|p| std::path::absolute(p).map(|p| path_text::encode(&p).into_owned()))
        .collect::<Result<_, _>>()?;
    let options = PlanOptions {
        scope: Some(&scope),
        hasher: None,
        keep: &keep,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut loaded: Option<Loaded> = None;
    let mut totals = Totals::default();
    // A second pass only when the first dropped files whose stored vectors were damaged:
    // they are new to the index then, and embedded again.
    let mut done = None;
    for pass in 0..2 {
        let mut writer = index.writer(wait)?;
        let plan = writer.plan_with(&stats, &options)?;
        if pass == 0 {
            plan.failed
                .iter()
                .for_each(|(path, reason)| report.fail(format!("{}: {reason}", display(path))));
            totals.unchanged = plan.unchanged;
        }
        totals.planned += plan.embed.len();
        if !plan.embed.is_empty() {
            if loaded.is_none() {
                let compute = global.compute()?;
                let (model, _) = model_dir.load(&compute.device)?;
                loaded = Some(Loaded { compute, model });
            }
            let l = loaded.as_ref().expect("just loaded");
            embed_plan(&plan, &mut writer, l, args, global, &mut report, &stop)?;
        }
        let d = writer.finish(&plan)?;
        totals.embedded += d.embedded;
        totals.reused += d.reused;
        totals.touched += d.touched;
        totals.removed += d.removed;
        print_warnings(&index);
        let again = !d.rebuild.dropped.is_empty() && !stop.load(Ordering::Relaxed);
        if again && pass == 0 {
            eprintln!(
                "re-embedding {} file{} whose stored vectors were damaged",
                d.rebuild.dropped.len(),
                if d.rebuild.dropped.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        done = Some(d);
        if !again {
            break;
        }
    }
    let done = done.expect("one pass at least");
    let interrupted = stop.load(Ordering::Relaxed);
    let approx = if args.approx && !interrupted {
        let built = index.build_approx(wait)?.approx_built.is_some();
        print_warnings(&index);
        built
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
                "embedded": totals.embedded,
                "reused": totals.reused,
                "touched": totals.touched,
                "removed": totals.removed,
                "unchanged": totals.unchanged,
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
            totals.embedded,
            totals.reused,
            totals.touched,
            totals.removed,
            totals.unchanged,
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
            totals.embedded, totals.planned
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(report.outcome())
}

fn wait_of(args: &IndexArgs) -> anyhow::Result<Option<Duration>> {
    Ok(match args.wait {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            anyhow::bail!("--wait must be a number of seconds")
        }
        w => w.map(Duration::from_secs_f64),
    })
}

/// Embeds `plan.embed` batch by batch, committing each batch (stops early on Ctrl-C).
fn embed_plan(
    plan: &Plan,
    writer: &mut Writer,
    loaded: &Loaded,
    args: &IndexArgs,
    global: &GlobalArgs,
    report: &mut Reporter,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    // First Ctrl-C: finish the batch in flight, commit, and stop; the next run continues.
    crate::process::stop_on_interrupt(stop, || {
        eprintln!(
            "\ninterrupted: saving what is embedded (Ctrl-C again quits at once; the index stays consistent)"
        )
    });
    let mut embedder = Embedder::new(&loaded.model, &loaded.compute.device);
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
                Item::file(m, path_text::decode(&p.stat.path))
            })
            .collect();
        let mut vectors = Vec::with_capacity(chunk.len());
        for (p, result) in chunk.iter().zip(embedder.embed_all(&items, &mut |_| {})) {
            match result.map(|e| unit(&e)) {
                Ok(Some(v)) => vectors.push((*p, v)),
                Ok(None) => report.fail(format!(
                    "{}: the embedding is zero or not finite",
                    display(&p.stat.path)
                )),
                Err(e) => report.fail(e),
            }
        }
        let batch: Vec<_> = vectors.iter().map(|(p, v)| (*p, v.as_slice())).collect();
        writer.commit_batch(&batch)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

fn state_text(s: &FileState) -> String {
    match s {
        FileState::Missing => "none".into(),
        FileState::Fresh => "ok".into(),
        FileState::Stale => "stale (an update was interrupted or is running)".into(),
        FileState::OldFormat => "written by an older mmbind".into(),
        FileState::Damaged(d) => format!("DAMAGED: {d}"),
    }
}

fn state_json(s: &FileState) -> serde_json::Value {
    match s {
        FileState::Missing => "missing".into(),
        FileState::Fresh => "ok".into(),
        FileState::Stale => "stale".into(),
        FileState::OldFormat => "old_format".into(),
        FileState::Damaged(d) => serde_json::json!({ "damaged": d }),
    }
}

/// `index --check [--repair]`: verify everything, rebuild what is derived, report.
fn check(args: &IndexArgs) -> anyhow::Result<Outcome> {
    let wait = wait_of(args)?;
    let mut index = Index::open(&args.index)?;
    let rep = index.check()?;
    // Derived files are rebuilt unless they verify and are current (a graph only if there is
    // one); the database is touched only when asked to or when SQLite's own check failed.
    let rebuild = rep.matrix != FileState::Fresh
        || !matches!(rep.approx, FileState::Fresh | FileState::Missing)
        || !rep.sqlite.is_empty()
        || rep.unverified_vectors > 0
        || (args.repair && (!rep.damaged_vectors.is_empty() || !rep.bad_files.is_empty()));
    // A repair that cannot run (another writer, a read-only directory) does not hide the
    // findings: they are printed, then the error (exit 2).
    let mut repair_error = None;
    let repaired = if rebuild {
        match index.repair(wait, args.repair) {
            Ok(r) => Some(r),
            Err(e) => {
                repair_error = Some(e);
                None
            }
        }
    } else {
        None
    };
    let warnings = index.take_warnings();
    let damage = rep.damage();
    let dir = args.index.display().to_string();
    match args.format {
        SummaryFormat::Json => {
            let repaired = repaired.as_ref().map(|r| {
                serde_json::json!({
                    "reindexed": r.reindexed,
                    "sqlite": r.sqlite,
                    "dropped_rows": r.dropped_rows,
                    "checksums_filled": r.checksums_filled,
                    "matrix_rebuilt": r.rebuild.matrix_rebuilt,
                    "approx_rebuilt": r.rebuild.approx_built.is_some(),
                    "dropped": r.rebuild.dropped.iter()
                        .map(|(p, why)| serde_json::json!({"path": p, "reason": why}))
                        .collect::<Vec<_>>(),
                    "warnings": warnings,
                })
            });
            println!(
                "{}",
                serde_json::json!({
                    "index": dir,
                    "clean": rep.is_clean(),
                    "files": rep.files,
                    "vectors": rep.vectors,
                    "orphan_vectors": rep.orphan_vectors,
                    "generation": rep.generation,
                    "sqlite": rep.sqlite,
                    "bad_files": rep.bad_files,
                    "damaged_vectors": rep.damaged_vectors.iter()
                        .map(|v| serde_json::json!({"id": v.id, "reason": v.reason, "paths": v.paths}))
                        .collect::<Vec<_>>(),
                    "unverified_vectors": rep.unverified_vectors,
                    "matrix": state_json(&rep.matrix),
                    "approx": state_json(&rep.approx),
                    "damage": damage,
                    "repaired": repaired,
                    "repair_error": repair_error.as_ref().map(|e| e.to_string()),
                })
            );
        }
        SummaryFormat::Text => {
            let mut out = std::io::stdout().lock();
            let ok_or = |v: &[String]| {
                if v.is_empty() {
                    "ok".to_string()
                } else {
                    format!("DAMAGED: {}", v.join("; "))
                }
            };
            writeln!(
                out,
                "index {dir}: {} files, {} stored vectors, generation {}",
                rep.files, rep.vectors, rep.generation
            )?;
            writeln!(out, "  SQLite integrity check: {}", ok_or(&rep.sqlite))?;
            writeln!(out, "  file rows: {}", ok_or(&rep.bad_files))?;
            if rep.damaged_vectors.is_empty() {
                writeln!(
                    out,
                    "  stored vectors: ok ({} verified{})",
                    rep.vectors - rep.unverified_vectors,
                    if rep.unverified_vectors > 0 {
                        format!(", {} without a checksum", rep.unverified_vectors)
                    } else {
                        String::new()
                    }
                )?;
            } else {
                writeln!(
                    out,
                    "  stored vectors: {} of {} DAMAGED:",
                    rep.damaged_vectors.len(),
                    rep.vectors
                )?;
                for v in &rep.damaged_vectors {
                    let files = if v.paths.is_empty() {
                        "(no file)".to_string()
                    } else {
                        v.paths.join(", ")
                    };
                    writeln!(out, "    {files}: {}", v.reason)?;
                }
            }
            writeln!(out, "  search matrix: {}", state_text(&rep.matrix))?;
            writeln!(out, "  HNSW graph: {}", state_text(&rep.approx))?;
            if let Some(r) = &repaired {
                if r.reindexed {
                    writeln!(
                        out,
                        "repaired: SQLite's indexes rebuilt (REINDEX){}",
                        if r.sqlite.is_empty() {
                            String::new()
                        } else {
                            format!("; still damaged: {}", r.sqlite.join("; "))
                        }
                    )?;
                }
                if r.rebuild.matrix_rebuilt {
                    writeln!(out, "repaired: search matrix rebuilt from the database")?;
                }
                if r.rebuild.approx_built.is_some() {
                    writeln!(out, "repaired: HNSW graph rebuilt")?;
                }
                if r.checksums_filled > 0 {
                    writeln!(
                        out,
                        "repaired: checksums computed for {} stored vectors",
                        r.checksums_filled
                    )?;
                }
                for row in &r.dropped_rows {
                    writeln!(out, "dropped unreadable {row}")?;
                }
                for (p, why) in &r.rebuild.dropped {
                    writeln!(out, "dropped {p} ({why}): index it again to embed it anew")?;
                }
            }
            for w in &warnings {
                writeln!(out, "note: {w}")?;
            }
            if !rep.is_clean() && !args.repair && !rep.damaged_paths().is_empty() {
                writeln!(
                    out,
                    "{} damaged: index {} again (`mmbind index`), or drop {} with `mmbind index --check --repair --index {dir}`",
                    match rep.damaged_paths().len() {
                        1 => "1 file's stored vector is".to_string(),
                        n => format!("{n} files' stored vectors are"),
                    },
                    if rep.damaged_paths().len() == 1 {
                        "it"
                    } else {
                        "them"
                    },
                    if rep.damaged_paths().len() == 1 {
                        "it"
                    } else {
                        "them"
                    }
                )?;
            }
            writeln!(
                out,
                "{}",
                if rep.is_clean() {
                    "clean".to_string()
                } else {
                    format!(
                        "damage found: {} problem{}",
                        damage.len(),
                        if damage.len() == 1 { "" } else { "s" }
                    )
                }
            )?;
        }
    }
    if let Some(e) = repair_error {
        return Err(anyhow::Error::new(e).context("could not repair"));
    }
    Ok(if rep.is_clean() {
        Outcome::Ok
    } else {
        Outcome::Partial
    })
}
