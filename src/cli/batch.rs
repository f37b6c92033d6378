use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

use clap::Args;
use mmbind_modalities::Modality;
use serde::Deserialize;
use serde_json::{Value, json};

use super::results;
use super::{GlobalArgs, Outcome};
use crate::classify::{DEFAULT_TEMPLATES, label_embeddings, rank};
use crate::embed::{Embedder, Item};
use crate::search::{Filter, Index, Method, combine, method_json, ranked, search, unit};
use crate::weights::ModelDir;

/// Serve JSON-lines requests on stdin with the model loaded once.
///
/// One request per line, one response per line on stdout, in order. A request that fails
/// gets {"id": ..., "ok": false, "error": "..."} and the stream goes on. "id" (any JSON
/// value) is echoed back.
///
/// Requests (inputs are objects with one modality key, e.g. {"audio": "x.wav"},
/// {"text": "a dog"}, and for "add" an optional "weight"):
///   {"id": 1, "op": "embed", "inputs": [{"text": "a dog"}, {"vision": "a.jpg"}]}
///     → {"id": 1, "ok": true, "embeddings": [{"input", "modality", "embedding"} | {"input", "modality", "error"}]}
///   {"id": 2, "op": "query", "input": {"audio": "x.wav"}, "top_k": 5, "threshold": 0.2,
///    "modality": ["vision"], "approx": false, "ef": null}
///     → {"id": 2, "ok": true, "method": "exact", "results": [{"rank", "score", "modality", "path"}]}
///   {"id": 3, "op": "add", "inputs": [{"vision": "a.jpg"}, {"audio": "b.wav", "weight": -0.5}], "top_k": 5}
///     → like query
///   {"id": 4, "op": "classify", "input": {"audio": "x.wav"}, "labels": ["dog", "cat"],
///    "templates": ["a {}."], "top_k": 3}
///     → {"id": 4, "ok": true, "labels": [{"label", "logit", "probability"}]}
///
/// Example:
///   printf '%s\n' '{"op":"query","input":{"text":"a dog"}}' | mmbind batch --index photos.idx
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct BatchArgs {
    /// The model directory (default with --index: the one the index was built with).
    #[arg(long, value_name = "DIR", required_unless_present = "index")]
    pub model: Option<PathBuf>,
    /// An index for "query" and "add" requests.
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
}

/// One input of a request.
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
    fn item(&self) -> Result<Item, String> {
        let files = [
            (Modality::Vision, &self.vision),
            (Modality::Audio, &self.audio),
            (Modality::Depth, &self.depth),
            (Modality::Thermal, &self.thermal),
            (Modality::Imu, &self.imu),
        ];
        let mut items: Vec<Item> = files
            .into_iter()
            .filter_map(|(m, p)| p.as_ref().map(|p| Item::file(m, p)))
            .collect();
        items.extend(self.text.as_ref().map(Item::text));
        match items.len() {
            1 => Ok(items.pop().expect("one item")),
            0 => Err("an input needs one of: vision, text, audio, depth, thermal, imu".into()),
            _ => Err("an input has exactly one modality key; use several inputs".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedRequest {
    inputs: Vec<Input>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
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
    ef: Option<usize>,
}

fn default_top_k() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    input: Input,
    labels: Vec<String>,
    #[serde(default)]
    templates: Vec<String>,
    top_k: Option<usize>,
}

/// A classification's label set: (labels, prompt templates).
type LabelSet = (Vec<String>, Vec<String>);

struct Server<'a> {
    embedder: Embedder<'a>,
    index: Option<&'a Index>,
    /// Label embeddings by (labels, templates): scripts classify many inputs against the same labels.
    labels: HashMap<LabelSet, Vec<Vec<f32>>>,
}

impl Server<'_> {
    fn embed_one(&self, item: &Item) -> Result<Vec<f32>, String> {
        let mut r = self
            .embedder
            .embed_all(std::slice::from_ref(item), &mut |_| {});
        r.pop().expect("one result").map_err(|e| e.to_string())
    }

    fn handle(&mut self, op: &str, body: Value) -> Result<Value, String> {
        let parse = |e: serde_json::Error| format!("bad '{op}' request: {e}");
        match op {
            "embed" => {
                let req: EmbedRequest = serde_json::from_value(body).map_err(parse)?;
                let items = req
                    .inputs
                    .iter()
                    .map(Input::item)
                    .collect::<Result<Vec<_>, _>>()?;
                let results = self.embedder.embed_all(&items, &mut |_| {});
                let ok = results.iter().all(Result::is_ok);
                let rows: Vec<Value> = items
                    .iter()
                    .zip(results)
                    .map(|(item, r)| {
                        let mut row =
                            json!({"input": item.source.label(), "modality": item.modality});
                        match r {
                            Ok(e) => row["embedding"] = e.into(),
                            Err(e) => row["error"] = e.to_string().into(),
                        }
                        row
                    })
                    .collect();
                Ok(json!({"ok": ok, "embeddings": rows}))
            }
            "query" | "add" => {
                let req: SearchRequest = serde_json::from_value(body).map_err(parse)?;
                let index = self
                    .index
                    .ok_or("no index: start `mmbind batch` with --index DIR to query or add")?;
                let query = match (op, &req.input, &req.inputs) {
                    ("query", Some(input), None) => {
                        unit(&self.embed_one(&input.item()?)?).ok_or("the embedding is zero")?
                    }
                    ("add", None, Some(inputs)) if !inputs.is_empty() => {
                        let mut terms = Vec::with_capacity(inputs.len());
                        for input in inputs {
                            terms.push((
                                input.weight.unwrap_or(1.0),
                                self.embed_one(&input.item()?)?,
                            ));
                        }
                        let weighted: Vec<(f32, &[f32])> =
                            terms.iter().map(|(w, e)| (*w, e.as_slice())).collect();
                        combine(&weighted)?
                    }
                    ("query", ..) => return Err("'query' takes one \"input\"".into()),
                    _ => return Err("'add' takes a non-empty \"inputs\" list".into()),
                };
                if req.top_k == 0 {
                    return Err("top_k must be at least 1".into());
                }
                let limits = mmbind_modalities::Limits::current();
                limits.check_top_k(req.top_k as u64)?;
                if let Some(ef) = req.ef {
                    limits.check_top_k(ef as u64).map_err(|_| {
                        format!("ef {ef} is over the top-k limit of {}", limits.top_k)
                    })?;
                }
                let filter = Filter {
                    modalities: req.modality.iter().map(|m| m.name().to_string()).collect(),
                    min_score: req.threshold,
                };
                let method = match (req.approx, req.exact) {
                    (true, true) => return Err("approx and exact exclude each other".into()),
                    (true, _) => Method::Approx { ef: req.ef },
                    (_, true) => Method::Exact,
                    _ => Method::Auto,
                };
                let (hits, how) =
                    search(index, &query, req.top_k, &filter, method).map_err(|e| e.to_string())?;
                let mut resp = method_json(how);
                resp["ok"] = true.into();
                resp["results"] = serde_json::to_value(ranked(&hits)).expect("plain data");
                Ok(resp)
            }
            "classify" => {
                let req: ClassifyRequest = serde_json::from_value(body).map_err(parse)?;
                if req.labels.is_empty() {
                    return Err("\"labels\" is empty".into());
                }
                let templates: Vec<String> = if req.templates.is_empty() {
                    DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect()
                } else {
                    req.templates.clone()
                };
                if let Some(bad) = templates.iter().find(|t| !t.contains("{}")) {
                    return Err(format!("template '{bad}' has no {{}} where the label goes"));
                }
                let embedding = self.embed_one(&req.input.item()?)?;
                let key = (req.labels.clone(), templates);
                if !self.labels.contains_key(&key) {
                    let embs = label_embeddings(&self.embedder, &key.0, &key.1)
                        .map_err(|e| e.to_string())?;
                    self.labels.insert(key.clone(), embs);
                }
                let ranked = rank(&embedding, &req.labels, &self.labels[&key]);
                let k = req.top_k.unwrap_or(ranked.len());
                Ok(json!({"ok": true, "labels": ranked.into_iter().take(k).collect::<Vec<_>>()}))
            }
            other => Err(format!(
                "unknown op '{other}' (expected embed, query, add or classify)"
            )),
        }
    }

    /// One request line → one response.
    fn respond(&mut self, line: &str) -> Value {
        let mut req: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return json!({"id": null, "ok": false, "error": "a request is a JSON object"}),
            Err(e) => return json!({"id": null, "ok": false, "error": format!("not JSON: {e}")}),
        };
        let map = req.as_object_mut().expect("checked object");
        let id = map.remove("id").unwrap_or(Value::Null);
        let op = match map.remove("op") {
            Some(Value::String(op)) => op,
            _ => {
                return json!({"id": id, "ok": false, "error": "missing \"op\" (embed, query, add or classify)"});
            }
        };
        let mut resp = match self.handle(&op, req) {
            Ok(v) => v,
            Err(e) => json!({"ok": false, "error": e}),
        };
        let obj = resp.as_object_mut().expect("responses are objects");
        obj.insert("id".into(), id);
        obj.insert("op".into(), op.into());
        resp
    }
}

/// The next request line of `input` (without its newline), `Err` with the reason for a
/// line that cannot be a request (over `max` bytes, which are skipped unread into memory, or
/// not UTF-8), or `None` at the end. One bad line is answered and the stream goes on.
fn read_request<'b>(
    input: &mut impl BufRead,
    max: u64,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<Option<Result<&'b str, String>>> {
    buf.clear();
    let n = input.by_ref().take(max + 1).read_until(b'\n', buf)?;
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

pub fn run(args: &BatchArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    let (index, model, compute) = match &args.index {
        Some(ix) => {
            let (i, m, c) = results::open(ix, args.model.as_deref(), global)?;
            (Some(i), m, c)
        }
        None => {
            let compute = global.compute()?;
            let dir = args
                .model
                .as_ref()
                .expect("clap requires --model without --index");
            let (model, _) = ModelDir::new(dir).load(&compute.device)?;
            (None, model, compute)
        }
    };
    let mut server = Server {
        embedder: Embedder::new(&model, &compute.device),
        index: index.as_ref(),
        labels: HashMap::new(),
    };
    let mut failed = 0usize;
    let stdout = std::io::stdout();
    let mut stdin = std::io::stdin().lock();
    let max = mmbind_modalities::Limits::current().request_bytes;
    let mut buf = Vec::new();
    while let Some(line) = read_request(&mut stdin, max, &mut buf)? {
        let resp = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => server.respond(line),
            Err(reason) => json!({"id": null, "ok": false, "error": reason}),
        };
        if resp["ok"] != true {
            failed += 1;
        }
        // One flush per response: a script waiting for its answer gets it now.
        let mut out = stdout.lock();
        writeln!(out, "{resp}")?;
        out.flush()?;
    }
    Ok(if failed > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    })
}
