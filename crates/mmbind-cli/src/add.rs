use std::io::Write;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, Command};
use mmbind_modalities::prepare::inputs_noun;
use mmbind_modalities::{Modality, PerModality, Source};

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
/// With --vector, nothing is searched: the sum's vector is printed as JSON, {"model_hash",
/// "dim", "terms", "vector"}, for searching elsewhere (`mmbind-scale query` on LanceDB);
/// only --model is needed then.
///
/// A weight is a plain number before the first colon (`0.5:dog.wav`, `-1:snow`); write
/// `1:3:30 pm` for text that itself starts with a number and a colon.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AddArgs {
    /// The index directory (from `mmbind index`).
    #[arg(long, value_name = "DIR", required_unless_present = "vector")]
    pub index: Option<PathBuf>,
    /// The model directory (default: the one the index was built with).
    #[arg(long, value_name = "DIR", required_unless_present = "index")]
    pub model: Option<PathBuf>,
    /// Print the sum's vector as JSON instead of searching (needs only --model).
    #[arg(long, conflicts_with = "index")]
    pub vector: bool,
    #[command(flatten)]
    pub terms: TermArgs,
    #[command(flatten)]
    pub search: SearchArgs,
}

/// The terms of the sum: `--vision`, `--text`, … add, `--minus-vision`, … subtract; one flag
/// of each kind per modality, made from [`Modality::ALL`].
#[derive(Debug, Default)]
pub struct TermArgs {
    pub plus: PerModality<Vec<String>>,
    pub minus: PerModality<Vec<String>>,
}

/// The flag of `m`'s terms (`minus`: the one that subtracts them).
fn term_flag(m: Modality, minus: bool) -> String {
    if minus {
        format!("minus-{m}")
    } else {
        m.to_string()
    }
}

crate::flags::built_flags!(TermArgs);

impl TermArgs {
    fn flags(mut cmd: Command) -> Command {
        for minus in [false, true] {
            for m in Modality::ALL {
                let value = if m == Modality::Text {
                    "[W:]TEXT"
                } else {
                    "[W:]FILE"
                };
                let verb = if minus { "subtract" } else { "add" };
                let flag = term_flag(m, minus);
                cmd = cmd.arg(
                    Arg::new(flag.clone())
                        .long(flag)
                        .value_name(value)
                        .action(ArgAction::Append)
                        .allow_hyphen_values(true)
                        .help(format!("{} to {verb} (repeatable)", inputs_noun(m))),
                );
            }
        }
        cmd
    }

    fn read(&mut self, matches: &ArgMatches) {
        for m in Modality::ALL {
            for (minus, values) in [(false, &mut self.plus[m]), (true, &mut self.minus[m])] {
                if let Some(v) = matches.get_many::<String>(&term_flag(m, minus)) {
                    *values = v.cloned().collect();
                }
            }
        }
    }

    /// Every term, in flag order.
    pub(crate) fn terms(&self) -> Vec<Term> {
        let groups = self.plus.iter().map(|(m, v)| (m, 1.0, v));
        groups
            .chain(self.minus.iter().map(|(m, v)| (m, -1.0, v)))
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
    let terms = args.terms.terms();
    anyhow::ensure!(
        !terms.is_empty(),
        "nothing to add: give inputs ({}, --minus-...)",
        crate::inputs::modality_flags()
    );
    let search = Search {
        terms,
        options: args.search.options()?,
    };
    search.check().map_err(anyhow::Error::msg)?;
    let (index, model, compute, model_hash) = open(args, global)?;
    let answerer = Answerer::new(&model, &compute.device, index.as_ref());
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
    let described: Vec<_> = items
        .iter()
        .zip(&search.terms)
        .map(|(item, term)| {
            let mut t = output::input_json(item);
            t["weight"] = term.weight.into();
            t
        })
        .collect();
    if args.vector {
        let vector = answer::query_vector(&embedded).map_err(anyhow::Error::msg)?;
        let line = serde_json::json!({"model_hash": model_hash, "dim": vector.len(), "terms": described, "vector": vector});
        println!("{line}");
        return Ok(Outcome::Ok);
    }
    let (hits, method) = answerer
        .search_embedded(&search, &embedded)
        .map_err(anyhow::Error::msg)?;
    let title = title(&items, &search.terms);
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

/// The index (none with `--vector`), the model, its device and its content hash.
fn open(
    args: &AddArgs,
    global: &GlobalArgs,
) -> anyhow::Result<(
    Option<mmbind::search::Index>,
    mmbind::model::Model,
    mmbind::backend::Compute,
    String,
)> {
    Ok(match (&args.index, &args.model) {
        (Some(ix), model) => {
            let (index, model, compute) = results::open(ix, model.as_deref(), global)?;
            let hash = index.model_id().to_string();
            (Some(index), model, compute, hash)
        }
        (None, Some(dir)) => {
            let compute = global.compute()?;
            let (model, manifest) = mmbind::weights::ModelDir::new(dir).load(&compute.device)?;
            (None, model, compute, manifest.content_hash)
        }
        (None, None) => unreachable!("clap requires --index or --model"),
    })
}

/// The sum as the table's title: `a.jpg (vision) + 0.5·dog.wav (audio) - snow (text)`.
fn title(items: &[Item], terms: &[Term]) -> String {
    items
        .iter()
        .zip(terms)
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
        .join(" ")
}
