//! What `query` and `add` share: opening an index with its model, the search flags, and
//! printing results as a table, JSON lines or bare paths.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mmbind_index::path_text;
use mmbind_modalities::Modality;

use crate::GlobalArgs;
use mmbind::backend::Compute;
use mmbind::model::Model;
use mmbind::search::{Filter, Hit, Index, Method, SearchMethod, method_json, model_info, ranked};
use mmbind::weights::ModelDir;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A block per query: rank, score, modality, path (a byte of a name that is not UTF-8
    /// shows as \xNN).
    #[default]
    Table,
    /// One JSON object per query: {"query": {...}, "method": "exact"|"approx", ["ef"],
    /// "results": [{"rank", "score", "modality", "path"}]} (paths as in the table).
    Json,
    /// Matching paths only, one per line, each name's own bytes (for xargs and friends).
    Paths,
}

/// The search flags of `query` and `add`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// How many results.
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub top_k: usize,
    /// Keep only results with a cosine similarity of at least S (-1..1).
    #[arg(long, value_name = "S")]
    pub threshold: Option<f32>,
    /// Keep only results of these modalities (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "MODALITY")]
    pub modality: Vec<Modality>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Search the approximate (HNSW) graph; fails when the index has none (see `index --approx`).
    /// Default: exact below 200,000 files, approximate above when the graph exists.
    #[arg(long, conflicts_with = "exact")]
    pub approx: bool,
    /// Always scan every vector.
    #[arg(long)]
    pub exact: bool,
    /// Candidate list size of the approximate search (higher: better recall, slower).
    #[arg(long, value_name = "N", requires = "approx")]
    pub ef: Option<usize>,
}

impl SearchArgs {
    pub fn filter(&self) -> anyhow::Result<Filter> {
        if let Some(t) = self.threshold {
            anyhow::ensure!(t.is_finite(), "--threshold must be a number");
        }
        anyhow::ensure!(self.top_k > 0, "--top-k must be at least 1");
        let limits = mmbind_modalities::Limits::current();
        limits
            .check_top_k(self.top_k as u64)
            .map_err(anyhow::Error::msg)?;
        if let Some(ef) = self.ef {
            anyhow::ensure!(
                ef as u64 <= limits.top_k,
                "--ef {ef} is over the top-k limit of {} (raise it with --limit top-k=N)",
                limits.top_k
            );
        }
        Ok(Filter {
            modalities: self.modality.iter().map(|m| m.name().to_string()).collect(),
            min_score: self.threshold,
        })
    }

    pub fn method(&self) -> Method {
        match (self.approx, self.exact) {
            (true, _) => Method::Approx { ef: self.ef },
            (_, true) => Method::Exact,
            _ => Method::Auto,
        }
    }
}

/// Opens `index` and the model it was built with: `model` if given (it must be the same
/// model), else the model directory the index recorded.
pub fn open(
    index: &Path,
    model: Option<&Path>,
    global: &GlobalArgs,
) -> anyhow::Result<(Index, Model, Compute)> {
    let recorded = Index::open(index)?.model_name().to_string();
    let dir = match model {
        Some(m) => m.to_path_buf(),
        None => {
            let dir = PathBuf::from(&recorded);
            anyhow::ensure!(
                !recorded.is_empty() && dir.join("model.json").is_file(),
                "index {} was built with the model at '{recorded}', which is not there any more; pass --model DIR",
                index.display()
            );
            dir
        }
    };
    let model_dir = ModelDir::new(&dir);
    let index = Index::open_for(index, &model_info(&dir, &model_dir.manifest()?))?;
    let compute = global.compute()?;
    let (model, _) = model_dir.load(&compute.device)?;
    Ok((index, model, compute))
}

/// Prints one query's results. `query` describes the query in JSON output; `title` heads
/// its table.
pub fn print(
    out: &mut impl Write,
    format: Format,
    title: &str,
    query: serde_json::Value,
    hits: &[Hit],
    method: SearchMethod,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let mut line = method_json(method);
            line["query"] = query;
            line["results"] = serde_json::to_value(ranked(hits)).expect("plain data");
            writeln!(out, "{line}")
        }
        // Raw bytes, so that a script gets back a name that is not UTF-8 exactly.
        Format::Paths => hits.iter().try_for_each(|h| {
            use std::os::unix::ffi::OsStrExt;
            out.write_all(path_text::decode(&h.path).as_os_str().as_bytes())?;
            out.write_all(b"\n")
        }),
        Format::Table => {
            writeln!(out, "{title}")?;
            if hits.is_empty() {
                writeln!(out, "  (no results)")?;
            }
            for r in ranked(hits) {
                writeln!(
                    out,
                    "  {:>3}  {:>7.4}  {:<7}  {}",
                    r.rank, r.score, r.modality, r.path
                )?;
            }
            Ok(())
        }
    }
}
