mod request;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use mmbind_modalities::{Modality, Source};
use serde_json::{Value, json};

use request::{Request, SearchMethod};

use crate::results;
use crate::{GlobalArgs, Outcome};
use mmbind::classify::{DEFAULT_TEMPLATES, label_embeddings, rank};
use mmbind::embed::{Embedder, Item};
use mmbind::search::{Filter, Index, Method, combine, method_json, ranked, search, unit};
use mmbind::weights::ModelDir;

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
///   "exact": true scans every vector; "compressed": true gives the same results from a scan
///   of int8 copies (4x fewer bytes; worth it from the second query of a session on).
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

    fn handle(&mut self, request: Request) -> Result<Value, String> {
        match request {
            Request::Embed { inputs } => {
                let items: Vec<Item> = inputs.into_iter().map(item).collect();
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
            Request::Search {
                terms,
                top_k,
                threshold,
                modalities,
                method,
            } => {
                let index = self
                    .index
                    .ok_or("no index: start `mmbind batch` with --index DIR to query or add")?;
                let mut embedded = Vec::with_capacity(terms.len());
                for (w, m, s) in terms {
                    embedded.push((w, self.embed_one(&item((m, s)))?));
                }
                let query = match embedded.as_slice() {
                    // One term of weight 1 (every query): the sum would be its unit vector.
                    [(w, e)] if *w == 1.0 => unit(e).ok_or("the embedding is zero")?,
                    _ => {
                        let weighted: Vec<(f32, &[f32])> =
                            embedded.iter().map(|(w, e)| (*w, e.as_slice())).collect();
                        combine(&weighted)?
                    }
                };
                let filter = Filter {
                    modalities: modalities.iter().map(|m| m.name().to_string()).collect(),
                    min_score: threshold,
                };
                let method = match method {
                    SearchMethod::Auto => Method::Auto,
                    SearchMethod::Exact => Method::Exact,
                    SearchMethod::Compressed => Method::Compressed,
                    SearchMethod::Approx { ef } => Method::Approx { ef },
                };
                let (hits, how) =
                    search(index, &query, top_k, &filter, method).map_err(|e| e.to_string())?;
                let mut resp = method_json(how);
                resp["ok"] = true.into();
                resp["results"] = serde_json::to_value(ranked(&hits)).expect("plain data");
                Ok(resp)
            }
            Request::Classify {
                input,
                labels,
                templates,
                top_k,
            } => {
                let templates: Vec<String> = if templates.is_empty() {
                    DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect()
                } else {
                    templates
                };
                let embedding = self.embed_one(&item(input))?;
                let key = (labels, templates);
                if !self.labels.contains_key(&key) {
                    let embs = label_embeddings(&self.embedder, &key.0, &key.1)
                        .map_err(|e| e.to_string())?;
                    self.labels.insert(key.clone(), embs);
                }
                let ranked = rank(&embedding, &key.0, &self.labels[&key]);
                let k = top_k.unwrap_or(ranked.len());
                Ok(json!({"ok": true, "labels": ranked.into_iter().take(k).collect::<Vec<_>>()}))
            }
        }
    }

    /// One request line → one response, with the request's `id` and `op` echoed.
    fn respond(&mut self, line: &str) -> Value {
        let parsed = request::parse(line);
        let mut resp = match parsed.request.and_then(|r| self.handle(r)) {
            Ok(v) => v,
            Err(e) => json!({"ok": false, "error": e}),
        };
        let obj = resp.as_object_mut().expect("responses are objects");
        obj.insert("id".into(), parsed.id);
        if let Some(op) = parsed.op {
            obj.insert("op".into(), op.into());
        }
        resp
    }
}

fn item((modality, source): (Modality, Source)) -> Item {
    Item { modality, source }
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
    while let Some(line) = request::read_line(&mut stdin, max, &mut buf)? {
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
