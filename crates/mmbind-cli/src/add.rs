use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use mmbind_modalities::Modality;

use crate::report::Reporter;
use crate::results::{self, SearchArgs};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::{Embedder, Item};
use mmbind::search::{combine, search, split_weight};

/// Embedding arithmetic: search with a weighted sum of inputs of any modalities.
///
/// Every input is embedded and L2-normalised, multiplied by its weight (a `W:` prefix,
/// default 1; the --minus-* flags negate it), summed, renormalised, and the sum searched for.
/// "A photo of a pigeon + the sound of an engine" finds images with both.
///
/// Examples:
///   mmbind add --index lab.idx --vision pigeon.jpg --audio engine.wav
///   mmbind add --index lab.idx --vision beach.jpg --minus-text "sunny" --text "0.5:storm"
///
/// A weight is a plain number before the first colon (`0.5:dog.wav`, `-1:snow`); write
/// `1:3:30 pm` for text that itself starts with a number and a colon.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AddArgs {
    /// The index directory (from `mmbind index`).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// The model directory (default: the one the index was built with).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Images to add ([W:]FILE; repeatable).
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub vision: Vec<String>,
    /// Text to add ([W:]TEXT).
    #[arg(long, value_name = "[W:]TEXT", allow_hyphen_values = true)]
    pub text: Vec<String>,
    /// Audio to add.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub audio: Vec<String>,
    /// Depth maps to add.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub depth: Vec<String>,
    /// Thermal images to add.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub thermal: Vec<String>,
    /// IMU recordings to add.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub imu: Vec<String>,
    /// Images to subtract.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub minus_vision: Vec<String>,
    /// Text to subtract.
    #[arg(long, value_name = "[W:]TEXT", allow_hyphen_values = true)]
    pub minus_text: Vec<String>,
    /// Audio to subtract.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub minus_audio: Vec<String>,
    /// Depth maps to subtract.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub minus_depth: Vec<String>,
    /// Thermal images to subtract.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub minus_thermal: Vec<String>,
    /// IMU recordings to subtract.
    #[arg(long, value_name = "[W:]FILE", allow_hyphen_values = true)]
    pub minus_imu: Vec<String>,
    #[command(flatten)]
    pub search: SearchArgs,
}

impl AddArgs {
    /// (weight, item) for every term, in flag order.
    fn terms(&self) -> Vec<(f32, Item)> {
        let groups: [(Modality, f32, &Vec<String>); 12] = [
            (Modality::Vision, 1.0, &self.vision),
            (Modality::Text, 1.0, &self.text),
            (Modality::Audio, 1.0, &self.audio),
            (Modality::Depth, 1.0, &self.depth),
            (Modality::Thermal, 1.0, &self.thermal),
            (Modality::Imu, 1.0, &self.imu),
            (Modality::Vision, -1.0, &self.minus_vision),
            (Modality::Text, -1.0, &self.minus_text),
            (Modality::Audio, -1.0, &self.minus_audio),
            (Modality::Depth, -1.0, &self.minus_depth),
            (Modality::Thermal, -1.0, &self.minus_thermal),
            (Modality::Imu, -1.0, &self.minus_imu),
        ];
        groups
            .into_iter()
            .flat_map(|(m, sign, values)| {
                values.iter().map(move |v| {
                    let (w, rest) = split_weight(v);
                    let item = if m == Modality::Text {
                        Item::text(rest)
                    } else {
                        Item::file(m, rest)
                    };
                    (sign * w, item)
                })
            })
            .collect()
    }
}

pub fn run(args: &AddArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let terms = args.terms();
    anyhow::ensure!(
        !terms.is_empty(),
        "nothing to add: give inputs (--vision, --text, --audio, --depth, --thermal, --imu, --minus-...)"
    );
    let filter = args.search.filter()?;
    let (index, model, compute) = results::open(&args.index, args.model.as_deref(), global)?;
    let items: Vec<Item> = terms.iter().map(|(_, i)| i.clone()).collect();
    let embedder = Embedder::new(&model, &compute.device);
    let mut report = Reporter::default();
    let mut embeddings = Vec::with_capacity(items.len());
    for e in embedder.embed_all(&items, &mut |_| {}) {
        match e {
            Ok(e) => embeddings.push(e),
            Err(e) => report.fail(e),
        }
    }
    if report.failed > 0 {
        // A sum missing a term answers another question than the one asked.
        eprintln!("nothing searched: every term of the sum must be usable");
        return Ok(report.outcome());
    }
    let weighted: Vec<(f32, &[f32])> = terms
        .iter()
        .zip(&embeddings)
        .map(|((w, _), e)| (*w, e.as_slice()))
        .collect();
    let query = combine(&weighted).map_err(|e| anyhow::anyhow!("cannot add these inputs: {e}"))?;
    let (hits, method) = search(
        &index,
        &query,
        args.search.top_k,
        &filter,
        args.search.method(),
    )?;
    let title = terms
        .iter()
        .enumerate()
        .map(|(i, (w, item))| {
            let sign = if *w < 0.0 {
                "- "
            } else if i > 0 {
                "+ "
            } else {
                ""
            };
            let w = w.abs();
            let weight = if w == 1.0 {
                String::new()
            } else {
                format!("{w}·")
            };
            format!("{sign}{weight}{} ({})", item.source.label(), item.modality)
        })
        .collect::<Vec<_>>()
        .join(" ");
    let described: Vec<_> = terms
        .iter()
        .map(|(w, item)| serde_json::json!({"input": item.source.label(), "modality": item.modality, "weight": w}))
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    results::print(
        &mut out,
        args.search.format,
        &title,
        serde_json::json!({"terms": described}),
        &hits,
        method,
    )?;
    out.flush()?;
    Ok(Outcome::Ok)
}
