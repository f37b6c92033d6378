use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use mmbind_modalities::{Modality, Source};

use crate::answer::{self, Answerer};
use crate::output;
use crate::protocol::{Search, Term};
use crate::report::Reporter;
use crate::results::{self, SearchArgs};
use crate::{GlobalArgs, Outcome};
use mmbind::embed::Item;
use mmbind::search::split_weight;

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
    /// Every term, in flag order.
    fn terms(&self) -> Vec<Term> {
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
            .flat_map(|(modality, sign, values)| {
                values.iter().map(move |v| {
                    let (w, rest) = split_weight(v);
                    let source = if modality == Modality::Text {
                        Source::Text(rest.to_string())
                    } else {
                        Source::File(rest.into())
                    };
                    Term {
                        weight: sign * w,
                        modality,
                        source,
                    }
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
    let search = Search {
        terms,
        options: args.search.options()?,
    };
    search.check().map_err(anyhow::Error::msg)?;
    let (index, model, compute) = results::open(&args.index, args.model.as_deref(), global)?;
    let answerer = Answerer::new(&model, &compute.device, Some(&index));
    let items: Vec<Item> = search.terms.iter().map(answer::item).collect();
    let mut report = Reporter::default();
    let mut embedded = Vec::with_capacity(items.len());
    for (term, e) in search.terms.iter().zip(answerer.embed(&items, &mut |_| {})) {
        match e {
            Ok(e) => embedded.push((term.weight, e)),
            Err(e) => report.fail(e),
        }
    }
    if report.failed > 0 {
        // A sum missing a term answers another question than the one asked.
        eprintln!("nothing searched: every term of the sum must be usable");
        return Ok(report.outcome());
    }
    let (hits, method) = answerer
        .search_embedded(&search, &embedded)
        .map_err(anyhow::Error::msg)?;
    let title = items
        .iter()
        .zip(&search.terms)
        .enumerate()
        .map(|(i, (item, term))| {
            let sign = if term.weight < 0.0 {
                "- "
            } else if i > 0 {
                "+ "
            } else {
                ""
            };
            let w = term.weight.abs();
            let weight = if w == 1.0 {
                String::new()
            } else {
                format!("{w}·")
            };
            format!("{sign}{weight}{} ({})", item.source.label(), item.modality)
        })
        .collect::<Vec<_>>()
        .join(" ");
    let described: Vec<_> = items
        .iter()
        .zip(&search.terms)
        .map(|(item, term)| {
            let mut t = output::input_json(item);
            t["weight"] = term.weight.into();
            t
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    output::print_search(
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
