//! What `query` and `add` share: opening an index with its model, and the search flags
//! (which build the protocol's [`SearchOptions`]).

use std::path::{Path, PathBuf};

use clap::Args;
use mmbind_modalities::Modality;

use crate::GlobalArgs;
use crate::output::Format;
use crate::protocol::{DEFAULT_TOP_K, SearchMethod, SearchOptions};
use mmbind::backend::Compute;
use mmbind::model::Model;
use mmbind::search::{Index, model_info};
use mmbind::weights::ModelDir;

/// The search flags of `query` and `add`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// How many results.
    #[arg(long, default_value_t = DEFAULT_TOP_K, value_name = "K")]
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
    /// The search options these flags ask for, checked.
    pub fn options(&self) -> anyhow::Result<SearchOptions> {
        let options = SearchOptions {
            top_k: self.top_k,
            threshold: self.threshold,
            modalities: self.modality.clone(),
            method: match (self.approx, self.exact) {
                (true, _) => SearchMethod::Approx { ef: self.ef },
                (_, true) => SearchMethod::Exact,
                _ => SearchMethod::Auto,
            },
        };
        options.check().map_err(anyhow::Error::msg)?;
        Ok(options)
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
