//! What `embed`, `query`, `add` and `classify` mean, once: the requests, their defaults and
//! their checks. The commands build them from their flags, `batch` parses them from JSON
//! ([`Request::from_json`]), and both answer them the same way (`answer.rs`) and show the
//! answers the same way (`output.rs`).
//!
//! Nothing here depends on burn, the model or the index (only serde, serde_json and
//! `mmbind-modalities`), so the fuzzer compiles this very file beside `batch/request.rs`
//! and feeds it arbitrary requests.

use std::path::{Path, PathBuf};

use mmbind_modalities::{Limits, Modality, PerModality, Source};
use serde::Deserialize;
use serde_json::Value;

/// Results of a search when the request does not say.
pub const DEFAULT_TOP_K: usize = 10;

/// One term of a search: an input and its weight (1 for a plain query).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub weight: f32,
    pub modality: Modality,
    pub source: Source,
}

/// How a search request wants the index searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMethod {
    /// Exact on small indexes, the HNSW graph on large ones that have it.
    #[default]
    Auto,
    /// Every vector scanned.
    Exact,
    /// Exact, scanning int8 codes and re-scoring the candidates.
    Compressed,
    /// The HNSW graph with this candidate-list size (none: the index's default).
    Approx { ef: Option<usize> },
}

/// How a search is done and what it returns, whatever its terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub top_k: usize,
    /// Keep only results with at least this cosine similarity.
    pub threshold: Option<f32>,
    /// Keep only results of these modalities (none: all).
    pub modalities: Vec<Modality>,
    pub method: SearchMethod,
}

impl SearchOptions {
    /// Checks the options before anything is embedded or searched.
    pub fn check(&self) -> Result<(), String> {
        if self.top_k == 0 {
            return Err("top-k must be at least 1".into());
        }
        let limits = Limits::current();
        limits.check_top_k(self.top_k as u64)?;
        if let SearchMethod::Approx { ef: Some(ef) } = self.method
            && ef as u64 > limits.top_k
        {
            return Err(format!(
                "ef {ef} is over the top-k limit of {} (raise it with --limit top-k=N)",
                limits.top_k
            ));
        }
        if let Some(t) = self.threshold
            && !t.is_finite()
        {
            return Err("the threshold must be a number".into());
        }
        Ok(())
    }
}

/// `query` (one term of weight 1) or `add` (weighted terms, summed): the files of the index
/// closest to the terms' normalised sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub terms: Vec<Term>,
    pub options: SearchOptions,
}

impl Search {
    /// Checks the request before anything is embedded or searched.
    pub fn check(&self) -> Result<(), String> {
        if self.terms.is_empty() {
            return Err("a search needs at least one input".into());
        }
        if let Some(t) = self.terms.iter().find(|t| !t.weight.is_finite()) {
            return Err(format!("weight {} is not a finite number", t.weight));
        }
        self.options.check()
    }
}

/// The labels of a zero-shot classification and how they become prompts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    pub labels: Vec<String>,
    /// Prompt templates with `{}` for the label (none: the library's defaults).
    pub templates: Vec<String>,
    /// How many labels to return (none: all).
    pub top_k: Option<usize>,
}

impl Labels {
    /// The labels trimmed, blank ones dropped, then checked.
    pub fn new(
        labels: &[String],
        templates: Vec<String>,
        top_k: Option<usize>,
    ) -> Result<Self, String> {
        let labels: Vec<String> = labels
            .iter()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if labels.is_empty() {
            return Err("a classification needs at least one label".into());
        }
        if let Some(t) = templates.iter().find(|t| !t.contains("{}")) {
            return Err(format!("template '{t}' has no {{}} where the label goes"));
        }
        if top_k == Some(0) {
            return Err("top-k must be at least 1".into());
        }
        Ok(Labels {
            labels,
            templates,
            top_k,
        })
    }
}

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Embed {
        inputs: Vec<(Modality, Source)>,
    },
    Search(Search),
    Classify {
        input: (Modality, Source),
        labels: Labels,
    },
}

/// One input of a JSON request: an object with one modality key (`{"audio": "x.wav"}`,
/// `{"text": "a dog"}`), and for "add" a weight.
#[derive(Debug, Default)]
struct Input {
    views: PerModality<Option<String>>,
    weight: Option<f32>,
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(InputVisitor)
    }
}

/// Reads an [`Input`]'s keys: one per modality (from [`Modality::ALL`]) and `weight`; any
/// other key is refused, as `deny_unknown_fields` would.
struct InputVisitor;

impl<'de> serde::de::Visitor<'de> for InputVisitor {
    type Value = Input;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an input object such as {\"text\": \"a dog\"} or {\"audio\": \"x.wav\"}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Input, A::Error> {
        use serde::de::Error;
        let mut input = Input::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "weight" {
                if input.weight.is_some() {
                    return Err(A::Error::duplicate_field("weight"));
                }
                input.weight = Some(map.next_value()?);
                continue;
            }
            let Some(m) = Modality::ALL.into_iter().find(|m| m.name() == key) else {
                let expected: Vec<String> = Modality::ALL
                    .iter()
                    .map(|m| m.name())
                    .chain(["weight"])
                    .map(|k| format!("`{k}`"))
                    .collect();
                return Err(A::Error::custom(format!(
                    "unknown field `{key}`, expected one of {}",
                    expected.join(", ")
                )));
            };
            if input.views[m].is_some() {
                return Err(A::Error::duplicate_field(m.name()));
            }
            input.views[m] = Some(map.next_value()?);
        }
        Ok(input)
    }
}

impl Input {
    fn source(&self) -> Result<(Modality, Source), String> {
        let mut found = self.views.present().map(|(m, v)| {
            let source = if m == Modality::Text {
                Source::Text(v.clone())
            } else {
                Source::File(v.into())
            };
            (m, source)
        });
        match (found.next(), found.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(format!("an input needs one of: {}", Modality::names())),
            (Some(_), Some(_)) => {
                Err("an input has exactly one modality key; use several inputs".into())
            }
        }
    }

    fn term(&self) -> Result<Term, String> {
        let (modality, source) = self.source()?;
        Ok(Term {
            weight: self.weight.unwrap_or(1.0),
            modality,
            source,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedBody {
    inputs: Vec<Input>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    /// `query`: one input.
    input: Option<Input>,
    /// `add`: several weighted inputs.
    inputs: Option<Vec<Input>>,
    #[serde(default = "default_top_k")]
    top_k: usize,
    threshold: Option<f32>,
    #[serde(default)]
    modality: Vec<Modality>,
    #[serde(default)]
    approx: bool,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    compressed: bool,
    ef: Option<usize>,
}

fn default_top_k() -> usize {
    DEFAULT_TOP_K
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyBody {
    input: Input,
    labels: Vec<String>,
    #[serde(default)]
    templates: Vec<String>,
    top_k: Option<usize>,
}

impl Request {
    /// The request with each file input's path replaced by `resolve(path)`, or the first
    /// reason one cannot be: `serve` takes file inputs only as upload and index ids, never
    /// as paths on its machine.
    pub fn map_files(
        self,
        mut resolve: impl FnMut(&Path) -> Result<PathBuf, String>,
    ) -> Result<Request, String> {
        let mut resolved = |source: Source| match source {
            Source::File(p) => resolve(&p).map(Source::File),
            text => Ok(text),
        };
        Ok(match self {
            Request::Embed { inputs } => Request::Embed {
                inputs: (inputs.into_iter())
                    .map(|(m, s)| Ok((m, resolved(s)?)))
                    .collect::<Result<_, String>>()?,
            },
            Request::Search(mut search) => {
                for term in &mut search.terms {
                    let source = std::mem::replace(&mut term.source, Source::Text(String::new()));
                    term.source = resolved(source)?;
                }
                Request::Search(search)
            }
            Request::Classify { input, labels } => Request::Classify {
                input: (input.0, resolved(input.1)?),
                labels,
            },
        })
    }

    /// The request `op` with the JSON `body` (the request object without `id` and `op`),
    /// checked; the reason it is not one otherwise.
    pub fn from_json(op: &str, body: Value) -> Result<Request, String> {
        let bad = |e: serde_json::Error| format!("bad '{op}' request: {e}");
        match op {
            "embed" => {
                let body: EmbedBody = serde_json::from_value(body).map_err(bad)?;
                let inputs = body
                    .inputs
                    .iter()
                    .map(Input::source)
                    .collect::<Result<_, _>>()?;
                Ok(Request::Embed { inputs })
            }
            "query" | "add" => {
                let body: SearchBody = serde_json::from_value(body).map_err(bad)?;
                let terms = match (op, &body.input, &body.inputs) {
                    ("query", Some(input), None) => {
                        let (modality, source) = input.source()?;
                        vec![Term {
                            weight: 1.0,
                            modality,
                            source,
                        }]
                    }
                    ("add", None, Some(inputs)) if !inputs.is_empty() => {
                        inputs.iter().map(Input::term).collect::<Result<_, _>>()?
                    }
                    ("query", ..) => return Err("'query' takes one \"input\"".into()),
                    _ => return Err("'add' takes a non-empty \"inputs\" list".into()),
                };
                let method = match (body.approx, body.exact, body.compressed) {
                    (true, true, _) => return Err("approx and exact exclude each other".into()),
                    (true, _, true) => {
                        return Err("approx and compressed exclude each other".into());
                    }
                    (true, ..) => SearchMethod::Approx { ef: body.ef },
                    (_, _, true) => SearchMethod::Compressed,
                    (_, true, _) => SearchMethod::Exact,
                    _ => SearchMethod::Auto,
                };
                let search = Search {
                    terms,
                    options: SearchOptions {
                        top_k: body.top_k,
                        threshold: body.threshold,
                        modalities: body.modality,
                        method,
                    },
                };
                search.check()?;
                Ok(Request::Search(search))
            }
            "classify" => {
                let body: ClassifyBody = serde_json::from_value(body).map_err(bad)?;
                if body.labels.is_empty() {
                    return Err("\"labels\" is empty".into());
                }
                let labels = Labels::new(&body.labels, body.templates, body.top_k)?;
                Ok(Request::Classify {
                    input: body.input.source()?,
                    labels,
                })
            }
            other => Err(format!(
                "unknown op '{other}' (expected embed, query, add or classify)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(weight: f32, top_k: usize, method: SearchMethod) -> Search {
        Search {
            terms: vec![Term {
                weight,
                modality: Modality::Text,
                source: Source::Text("a dog".into()),
            }],
            options: SearchOptions {
                top_k,
                threshold: None,
                modalities: Vec::new(),
                method,
            },
        }
    }

    #[test]
    fn searches_and_labels_are_checked_with_one_line_reasons() {
        assert_eq!(search(1.0, 5, SearchMethod::Auto).check(), Ok(()));
        let err = |s: Search| s.check().unwrap_err();
        assert!(err(search(f32::NAN, 5, SearchMethod::Auto)).contains("not a finite number"));
        assert!(err(search(1.0, 0, SearchMethod::Auto)).contains("at least 1"));
        assert!(err(search(1.0, usize::MAX, SearchMethod::Exact)).contains("--limit top-k=N"));
        let ef = SearchMethod::Approx {
            ef: Some(usize::MAX),
        };
        assert!(err(search(1.0, 5, ef)).contains("ef"));
        let mut no_terms = search(1.0, 5, SearchMethod::Auto);
        no_terms.terms.clear();
        assert!(err(no_terms).contains("at least one input"));
        let mut nan = search(1.0, 5, SearchMethod::Auto);
        nan.options.threshold = Some(f32::NAN);
        assert!(err(nan).contains("threshold"));

        let labels = Labels::new(&[" dog ".into(), " ".into()], vec![], Some(1)).unwrap();
        assert_eq!(labels.labels, ["dog"]);
        let err = |l: &[&str], t: &[&str], k| {
            let l: Vec<String> = l.iter().map(|s| s.to_string()).collect();
            Labels::new(&l, t.iter().map(|s| s.to_string()).collect(), k).unwrap_err()
        };
        assert!(err(&[" "], &[], None).contains("at least one label"));
        assert!(err(&["dog"], &["a photo"], None).contains("no {}"));
        assert!(err(&["dog"], &[], Some(0)).contains("at least 1"));
    }
}
