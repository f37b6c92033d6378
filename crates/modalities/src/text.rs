//! Text input: the cleaning ImageBind applies before BPE, and fixed-length tokenisation.
//!
//! ImageBind's `SimpleTokenizer` (CLIP's) cleans text with `ftfy.fix_text`, then
//! `html.unescape` twice, then collapses whitespace and lower-cases. The ids depend on every
//! one of those steps, so each is re-implemented here:
//!
//! * [`fix_text`] follows ftfy 6's default pipeline: line by line, repeated until stable,
//!   HTML unescaping (only while no `<` has been seen), mojibake repair, C1 controls,
//!   Latin ligatures, character width, curly quotes, line breaks, terminal escapes,
//!   control characters and NFC. Mojibake repair is a focused subset of ftfy's
//!   heuristics: UTF-8 that was decoded as Windows-1252 / Latin-1 (possibly several times).
//!   Other code pages (1250/1251/1253/MacRoman/cp437) are not attempted.
//! * [`html_unescape`] follows Python's `html.unescape` for numeric references and for the
//!   named entities in [`ENTITIES`](entities::ENTITIES) (all legacy HTML4 names plus common
//!   HTML5 ones), not the full 2231-name HTML5 table.

use std::path::Path;

pub use crate::bpe::Tokenizer;
use crate::{Error, Result};

mod entities;
mod fix;
mod html;

pub use fix::fix_text;
pub use html::html_unescape;

/// How text is turned into the model's fixed-length id sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextPreprocess {
    /// Sequence length the text encoder takes, SOT and EOT included (77 for ImageBind).
    pub context_length: usize,
}

impl Default for TextPreprocess {
    fn default() -> Self {
        TextPreprocess { context_length: 77 }
    }
}

impl TextPreprocess {
    /// Tokenises with the ImageBind vocabulary at this context length.
    pub fn tokenize(&self, text: &str) -> Vec<i64> {
        Tokenizer::imagebind().tokenize(text, self.context_length)
    }
}

impl Tokenizer {
    /// BPE ids of `text` after [`clean`], without SOT/EOT and without truncation.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_cleaned(&clean(text))
    }

    /// The model input: `[SOT] + bpe`, cut so that it leaves room for EOT within
    /// `context_length`, then EOT, then zero padding. Cutting before appending EOT (rather
    /// than after) keeps EOT, where the text head pools, in every sequence.
    /// A `context_length` of 0 gives an empty vector.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<i64> {
        if context_length == 0 {
            return Vec::new();
        }
        let mut ids: Vec<i64> = Vec::with_capacity(context_length);
        ids.push(i64::from(self.sot_id()));
        // Only the first `context_length - 1` ids survive the cut, so words past them are
        // never merged: the work is bounded by the context, not by the text.
        let kept = self.encode_cleaned_at_most(&clean(text), context_length);
        ids.extend(kept.into_iter().map(i64::from));
        ids.truncate(context_length - 1);
        ids.push(i64::from(self.eot_id()));
        ids.resize(context_length, 0);
        ids
    }
}

/// Reads a UTF-8 `.txt` file (a leading byte-order mark is dropped).
pub fn load_text_file(path: &Path) -> Result<String> {
    let bytes = crate::Limits::current().read_file(path)?;
    crate::Limits::current().check_text(path, bytes.len())?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Error::decode(
            path,
            format!("not valid UTF-8 text (invalid byte at offset {offset})"),
        )
    })?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// The text the tokenizer actually splits: `fix_text`, `html.unescape` twice, whitespace
/// runs collapsed to one space, ends stripped, lower-cased.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    collapse_whitespace(&unescaped).to_lowercase()
}

/// `re.sub(r"\s+", " ", text).strip()`.
fn collapse_whitespace(text: &str) -> String {
    text.split(is_python_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `\s`: Unicode whitespace plus the ASCII separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}
