mod request;

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use crate::answer::Answerer;
use crate::results;
use crate::{GlobalArgs, Outcome};
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

/// One request line → one response, with the request's `id` and `op` echoed.
fn respond(answerer: &mut Answerer, line: &str) -> Value {
    let parsed = request::parse(line);
    let mut resp = match parsed.request.and_then(|r| answerer.answer(r)) {
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
    let mut answerer = Answerer::new(&model, &compute.device, index.as_ref());
    let mut failed = 0usize;
    let stdout = std::io::stdout();
    let mut stdin = std::io::stdin().lock();
    let max = mmbind_modalities::Limits::current().request_bytes;
    let mut buf = Vec::new();
    while let Some(line) = request::read_line(&mut stdin, max, &mut buf)? {
        let resp = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => respond(&mut answerer, line),
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
