//! The `batch` protocol's requests: one line read (bounded), parsed and validated into a
//! [`Request`], before anything is embedded or searched.
//!
//! Nothing here depends on burn, the model or the index (only serde, serde_json and
//! `mmbind-modalities`), so the fuzzer compiles this very file (`fuzz/fuzz_targets/
//! batch_request.rs`) and feeds it arbitrary lines.

use std::io::{BufRead, Read};
use std::path::PathBuf;

use mmbind_modalities::{Limits, Modality, Source};
use serde::Deserialize;
use serde_json::Value;

/// One input of a request: an object with one modality key, and for "add" a weight.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    vision: Option<PathBuf>,
    text: Option<String>,
    audio: Option<PathBuf>,
    depth: Option<PathBuf>,
    thermal: Option<PathBuf>,
    imu: Option<PathBuf>,
    weight: Option<f32>,
}

impl Input {
    fn source(&self) -> Result<(Modality, Source), String> {
        let files = [
            (Modality::Vision, &self.vision),
            (Modality::Audio, &self.audio),
            (Modality::Depth, &self.depth),
            (Modality::Thermal, &self.thermal),
            (Modality::Imu, &self.imu),
        ];
        let mut found: Vec<(Modality, Source)> = files
            .into_iter()
            .filter_map(|(m, p)| p.as_ref().map(|p| (m, Source::File(p.clone()))))
            .collect();
        found.extend(
            self.text
                .as_ref()
                .map(|t| (Modality::Text, Source::Text(t.clone()))),
        );
        match found.len() {
            1 => Ok(found.pop().expect("one input")),
            0 => Err("an input needs one of: vision, text, audio, depth, thermal, imu".into()),
            _ => Err("an input has exactly one modality key; use several inputs".into()),
        }
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
    10
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

/// How a search request wants the index searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchMethod {
    Auto,
    Exact,
    /// Exact, scanning int8 codes and re-scoring the candidates (`Index::search_compressed`).
    Compressed,
    Approx {
        ef: Option<usize>,
    },
}

/// A valid request.
#[derive(Debug)]
pub enum Request {
    Embed {
        inputs: Vec<(Modality, Source)>,
    },
    /// `query` (one term of weight 1) or `add` (weighted terms).
    Search {
        terms: Vec<(f32, Modality, Source)>,
        top_k: usize,
        threshold: Option<f32>,
        modalities: Vec<Modality>,
        method: SearchMethod,
    },
    Classify {
        input: (Modality, Source),
        labels: Vec<String>,
        /// Empty: the default templates.
        templates: Vec<String>,
        top_k: Option<usize>,
    },
}

/// A request line, parsed: its `id` and `op` (echoed in the response) and the request or
/// why it is not one.
#[derive(Debug)]
pub struct Parsed {
    pub id: Value,
    pub op: Option<String>,
    pub request: Result<Request, String>,
}

/// Parses and validates one request line.
pub fn parse(line: &str) -> Parsed {
    let mut value: Value = match serde_json::from_str(line) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return failed(Value::Null, None, "a request is a JSON object".into()),
        Err(e) => return failed(Value::Null, None, format!("not JSON: {e}")),
    };
    let map = value.as_object_mut().expect("checked object");
    let id = map.remove("id").unwrap_or(Value::Null);
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        _ => {
            let reason = "missing \"op\" (embed, query, add or classify)".into();
            return failed(id, None, reason);
        }
    };
    let request = request(&op, value);
    Parsed {
        id,
        op: Some(op),
        request,
    }
}

fn failed(id: Value, op: Option<String>, reason: String) -> Parsed {
    Parsed {
        id,
        op,
        request: Err(reason),
    }
}

fn request(op: &str, body: Value) -> Result<Request, String> {
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
                    let (m, s) = input.source()?;
                    vec![(1.0, m, s)]
                }
                ("add", None, Some(inputs)) if !inputs.is_empty() => inputs
                    .iter()
                    .map(|i| i.source().map(|(m, s)| (i.weight.unwrap_or(1.0), m, s)))
                    .collect::<Result<_, _>>()?,
                ("query", ..) => return Err("'query' takes one \"input\"".into()),
                _ => return Err("'add' takes a non-empty \"inputs\" list".into()),
            };
            if let Some((w, ..)) = terms.iter().find(|(w, ..)| !w.is_finite()) {
                return Err(format!("weight {w} is not a finite number"));
            }
            if body.top_k == 0 {
                return Err("top_k must be at least 1".into());
            }
            let limits = Limits::current();
            limits.check_top_k(body.top_k as u64)?;
            if let Some(ef) = body.ef
                && ef as u64 > limits.top_k
            {
                return Err(format!(
                    "ef {ef} is over the top-k limit of {}",
                    limits.top_k
                ));
            }
            if let Some(t) = body.threshold
                && !t.is_finite()
            {
                return Err("threshold must be a number".into());
            }
            let method = match (body.approx, body.exact, body.compressed) {
                (true, true, _) => return Err("approx and exact exclude each other".into()),
                (true, _, true) => return Err("approx and compressed exclude each other".into()),
                (true, ..) => SearchMethod::Approx { ef: body.ef },
                (_, _, true) => SearchMethod::Compressed,
                (_, true, _) => SearchMethod::Exact,
                _ => SearchMethod::Auto,
            };
            Ok(Request::Search {
                terms,
                top_k: body.top_k,
                threshold: body.threshold,
                modalities: body.modality,
                method,
            })
        }
        "classify" => {
            let body: ClassifyBody = serde_json::from_value(body).map_err(bad)?;
            if body.labels.is_empty() {
                return Err("\"labels\" is empty".into());
            }
            if let Some(t) = body.templates.iter().find(|t| !t.contains("{}")) {
                return Err(format!("template '{t}' has no {{}} where the label goes"));
            }
            Ok(Request::Classify {
                input: body.input.source()?,
                labels: body.labels,
                templates: body.templates,
                top_k: body.top_k,
            })
        }
        other => Err(format!(
            "unknown op '{other}' (expected embed, query, add or classify)"
        )),
    }
}

/// The next request line of `input` (without its newline), `Err` with the reason for a
/// line that cannot be a request (over `max` bytes, which are skipped without being held in
/// memory, or not UTF-8), or `None` at the end. One bad line is answered and the stream goes on.
pub fn read_line<'b>(
    input: &mut impl BufRead,
    max: u64,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<Option<Result<&'b str, String>>> {
    buf.clear();
    let n = input
        .by_ref()
        .take(max.saturating_add(1))
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() as u64 > max {
        skip_line(input)?;
        return Ok(Some(Err(format!(
            "request line over the limit of {max} bytes (raise it with --limit request-bytes=N)"
        ))));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(std::str::from_utf8(buf).map_err(|e| {
        format!(
            "request line is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })))
}

/// Discards input up to and including the next newline.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = chunk.len();
                input.consume(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_checked() {
        let data = b"{\"op\":\"embed\"}\r\n\xff\xfe\n".to_vec();
        let long = [b"x".repeat(50), b"\nnext\n".to_vec()].concat();
        let mut r = std::io::Cursor::new([data, long].concat());
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, 20, &mut buf).unwrap(),
            Some(Ok("{\"op\":\"embed\"}"))
        );
        let e = read_line(&mut r, 20, &mut buf)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        let e = read_line(&mut r, 20, &mut buf)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(e.contains("request-bytes"), "{e}");
        assert_eq!(read_line(&mut r, 20, &mut buf).unwrap(), Some(Ok("next")));
        assert_eq!(read_line(&mut r, 20, &mut buf).unwrap(), None);
    }

    #[test]
    fn requests_are_validated_before_any_work() {
        let err = |line: &str| parse(line).request.unwrap_err();
        assert!(err("[1]").contains("JSON object"));
        assert!(err("{\"id\": 3}").contains("missing \"op\""));
        assert!(
            err(r#"{"op": "query", "input": {"text": "a", "audio": "b"}}"#).contains("exactly one")
        );
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "top_k": 0}"#).contains("at least 1")
        );
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "top_k": 18446744073709551615}"#)
                .contains("top-k")
        );
        assert!(err(r#"{"op": "add", "inputs": []}"#).contains("non-empty"));
        assert!(err(r#"{"op": "classify", "input": {"text": "a"}, "labels": ["x"], "templates": ["no slot"]}"#).contains("no {}"));
        assert!(err(r#"{"op": "fly"}"#).contains("unknown op"));
        let p = parse(
            r#"{"id": [7], "op": "add", "inputs": [{"text": "a"}, {"vision": "b.png", "weight": -0.5}], "approx": true, "ef": 40}"#,
        );
        assert_eq!(p.id, serde_json::json!([7]));
        match p.request.unwrap() {
            Request::Search { terms, method, .. } => {
                assert_eq!(terms.len(), 2);
                assert_eq!(terms[1].0, -0.5);
                assert_eq!(method, SearchMethod::Approx { ef: Some(40) });
            }
            other => panic!("{other:?}"),
        }
        let p = parse(r#"{"op": "query", "input": {"text": "a"}, "compressed": true}"#);
        match p.request.unwrap() {
            Request::Search { method, .. } => assert_eq!(method, SearchMethod::Compressed),
            other => panic!("{other:?}"),
        }
        assert!(
            err(r#"{"op": "query", "input": {"text": "a"}, "compressed": true, "approx": true}"#)
                .contains("exclude each other")
        );
    }
}
