use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use mmbind_index::path_text::{self, display};
use mmbind_index::{CommitStats, FileStat, Index, Plan, PlanOptions, Writer};
use mmbind_modalities::Modality;

use crate::collect::{Collected, Rules};

mod check;
mod from_parquet;
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
        required_unless_present_any = ["check", "from_parquet"],
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
    /// Index embeddings computed elsewhere instead of embedding files: Parquet files of the
    /// schema `embed --out x.parquet` and `export` write (pyarrow's are accepted too), e.g.
    /// the parts of a cluster run. Rows of another model are refused; nothing is removed.
    /// Repeatable; one file in memory at a time (up to 4 GiB: a million 1024-d rows).
    #[arg(long, value_name = "FILE.parquet", num_args = 1.., conflicts_with_all = ["paths", "check"])]
    pub from_parquet: Vec<PathBuf>,
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
        return check::check(args);
    }
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let wait = wait_of(args)?;
    if !args.from_parquet.is_empty() {
        return from_parquet::run(args, global, wait);
    }
    let rules = Rules::new(&args.exclude, &args.modality_of, args.include_hidden)?;
    let model_path = args.model.as_deref().expect("clap requires --model");
    let model_dir = ModelDir::new(model_path);
    let manifest = model_dir.manifest()?;
    let mut index = Index::create_or_open(&args.index, &model_info(model_path, &manifest))?;
    let started = Instant::now();

    let mut report = Reporter::default();
    let collected = rules.collect(&args.paths)?;
    collected.errors.iter().for_each(|e| report.fail(e));
    let (stats, keep) = stat_files(&collected, &mut report);
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
    let mut update = Update {
        args,
        global,
        model_dir: &model_dir,
        loaded: None,
        stop: Arc::new(AtomicBool::new(false)),
        totals: Totals::default(),
    };
    let done = update.passes(&mut index, &stats, &options, wait, &mut report)?;
    let interrupted = update.stop.load(Ordering::Relaxed);
    let approx = if args.approx && !interrupted {
        let built = index.build_approx(wait)?.approx_built.is_some();
        print_warnings(&index);
        built
    } else {
        done.rebuild.approx_built.is_some()
    };
    let summary = Summary {
        totals: &update.totals,
        files: done.files,
        generation: done.generation,
        failed: report.failed,
        ignored: collected.ignored,
        interrupted,
        approx,
    };
    summary.print(args, global, started);
    if interrupted {
        eprintln!(
            "stopped after {} of {} files; run the same command again to finish",
            update.totals.embedded, update.totals.planned
        );
        return Ok(Outcome::Interrupted);
    }
    Ok(report.outcome())
}

/// The stat of every collected file, and the paths whose indexed files must be kept
/// although they were not seen (what could not be seen is not gone).
fn stat_files(collected: &Collected, report: &mut Reporter) -> (Vec<FileStat>, Vec<String>) {
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
    (stats, keep)
}

/// One run's updates of the index: plan, embed, commit; the model is loaded only when
/// something must be embedded.
struct Update<'a> {
    args: &'a IndexArgs,
    global: &'a GlobalArgs,
    model_dir: &'a ModelDir,
    loaded: Option<Loaded>,
    stop: Arc<AtomicBool>,
    totals: Totals,
}

impl Update<'_> {
    /// A second pass only when the first dropped files whose stored vectors were damaged:
    /// they are new to the index then, and embedded again.
    fn passes(
        &mut self,
        index: &mut Index,
        stats: &[FileStat],
        options: &PlanOptions,
        wait: Option<Duration>,
        report: &mut Reporter,
    ) -> anyhow::Result<CommitStats> {
        let mut done = None;
        for pass in 0..2 {
            let mut writer = index.writer(wait)?;
            let plan = writer.plan_with(stats, options)?;
            if pass == 0 {
                plan.failed
                    .iter()
                    .for_each(|(path, reason)| report.fail(format!("{}: {reason}", display(path))));
                self.totals.unchanged = plan.unchanged;
            }
            self.totals.planned += plan.embed.len();
            if !plan.embed.is_empty() {
                if self.loaded.is_none() {
                    let compute = self.global.compute()?;
                    let (model, _) = self.model_dir.load(&compute.device)?;
                    self.loaded = Some(Loaded { compute, model });
                }
                let l = self.loaded.as_ref().expect("just loaded");
                embed_plan(
                    &plan,
                    &mut writer,
                    l,
                    self.args,
                    self.global,
                    report,
                    &self.stop,
                )?;
            }
            let d = writer.finish(&plan)?;
            self.totals.add(&d);
            print_warnings(index);
            let again = !d.rebuild.dropped.is_empty() && !self.stop.load(Ordering::Relaxed);
            if again && pass == 0 {
                let n = d.rebuild.dropped.len();
                let s = if n == 1 { "" } else { "s" };
                eprintln!("re-embedding {n} file{s} whose stored vectors were damaged");
            }
            done = Some(d);
            if !again {
                break;
            }
        }
        Ok(done.expect("one pass at least"))
    }
}

impl Totals {
    fn add(&mut self, d: &CommitStats) {
        self.embedded += d.embedded;
        self.reused += d.reused;
        self.touched += d.touched;
        self.removed += d.removed;
    }
}

/// What one `mmbind index` run did, as the closing line or JSON object.
struct Summary<'a> {
    totals: &'a Totals,
    files: usize,
    generation: u64,
    failed: usize,
    ignored: usize,
    interrupted: bool,
    approx: bool,
}

impl Summary<'_> {
    fn print(&self, args: &IndexArgs, global: &GlobalArgs, started: Instant) {
        let t = self.totals;
        let failed = self.failed;
        match args.format {
            SummaryFormat::Json => println!(
                "{}",
                serde_json::json!({
                    "index": args.index.display().to_string(),
                    "files": self.files,
                    "embedded": t.embedded,
                    "reused": t.reused,
                    "touched": t.touched,
                    "removed": t.removed,
                    "unchanged": t.unchanged,
                    "failed": failed,
                    "ignored": self.ignored,
                    "interrupted": self.interrupted,
                    "generation": self.generation,
                    "approx": self.approx,
                })
            ),
            SummaryFormat::Text if !global.quiet || failed > 0 => eprintln!(
                "{}: {} files ({} embedded, {} reused, {} updated, {} removed, {} unchanged{}{}) in {:.1}s",
                args.index.display(),
                self.files,
                t.embedded,
                t.reused,
                t.touched,
                t.removed,
                t.unchanged,
                if failed > 0 {
                    format!(", {failed} skipped (see above)")
                } else {
                    String::new()
                },
                if self.ignored > 0 {
                    format!(", {} of unknown type ignored", self.ignored)
                } else {
                    String::new()
                },
                started.elapsed().as_secs_f64()
            ),
            SummaryFormat::Text => {}
        }
    }
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
