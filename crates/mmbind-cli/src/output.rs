//! How answers are shown, the same for the commands and for `batch`: a table for people,
//! JSON for scripts (the JSON of an answer is the same object in `--format json` and in a
//! `batch` response), bare paths for `xargs`.

use std::io::Write;

use clap::ValueEnum;
use mmbind::classify::Scored;
use mmbind::embed::Item;
use mmbind::search::{Hit, SearchMethod, method_json, ranked};
use mmbind_index::path_text;
use serde_json::{Value, json};

/// How `query` and `add` print their results.
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

/// How `classify` prints its labels.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum LabelFormat {
    /// One block per input: ranked labels with probabilities.
    #[default]
    Table,
    /// One JSON line per input: {"input", "modality", "labels": [{"label", "logit", "probability"}]}.
    Json,
}

/// A search's answer: `{"method": ..., ["ef": ...], "results": [{"rank", "score",
/// "modality", "path"}]}`.
pub fn search_json(hits: &[Hit], method: SearchMethod) -> Value {
    let mut answer = method_json(method);
    answer["results"] = serde_json::to_value(ranked(hits)).expect("plain data");
    answer
}

/// Prints one search's results. `query` describes the query in JSON output; `title` heads
/// its table.
pub fn print_search(
    out: &mut impl Write,
    format: Format,
    title: &str,
    query: Value,
    hits: &[Hit],
    method: SearchMethod,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let mut line = search_json(hits, method);
            line["query"] = query;
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

/// An input as answers name it: `{"input": label, "modality": name}`.
pub fn input_json(item: &Item) -> Value {
    json!({"input": item.source.label(), "modality": item.modality})
}

/// Prints one input's ranked labels.
pub fn print_labels(
    out: &mut impl Write,
    format: LabelFormat,
    item: &Item,
    ranked: &[Scored],
) -> std::io::Result<()> {
    match format {
        LabelFormat::Json => {
            let mut line = input_json(item);
            line["labels"] = serde_json::to_value(ranked).expect("plain data");
            writeln!(out, "{line}")
        }
        LabelFormat::Table => {
            writeln!(out, "{} ({})", item.source.label(), item.modality)?;
            for s in ranked {
                writeln!(out, "  {:>6.2}%  {}", s.probability * 100.0, s.label)?;
            }
            Ok(())
        }
    }
}
