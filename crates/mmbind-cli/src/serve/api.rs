//! The HTTP API: `batch`'s requests as `POST /api/{embed,query,add,classify}` (one protocol,
//! `crate::protocol`, answered by `crate::answer`), uploads, indexed files by id, "more like
//! this", statistics and health.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use mmbind_modalities::Modality;

use super::App;
use super::{files, thumbs};
use crate::output;
use crate::protocol::{DEFAULT_TOP_K, Request, Search, SearchMethod, SearchOptions};

/// A JSON error with its status: `{"ok": false, "error": "..."}`, one line of reason.
pub fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({"ok": false, "error": reason.into()}))).into_response()
}

/// `POST /api/{op}`: the body is what a `batch` line holds (`"op"` may be left out; `"id"`
/// is echoed). File inputs are `"upload:…"` (from `POST /api/upload`) or `"file:…"` (an
/// indexed file's id), never paths.
pub async fn request(app: State<Arc<App>>, op: &'static str, body: Bytes) -> Response {
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "a request is a JSON object"),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    let map = value.as_object_mut().expect("checked object");
    let id = map.remove("id").unwrap_or(Value::Null);
    match map.remove("op") {
        Some(Value::String(o)) if o == op => {}
        None => {}
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("\"op\" differs from /api/{op}"),
            );
        }
    }
    let request = Request::from_json(op, value).and_then(|r| r.map_files(|p| app.resolve(p)));
    let request = match request {
        Ok(r) => r,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    let answered = match request {
        // Searches keep their hits, to give each result its file's id.
        Request::Search(search) => {
            let found = app.engine.run(move |a| a.search(&search)).await;
            found.and_then(|r| r.map(|(hits, method)| app.results(&hits, method)))
        }
        other => app
            .engine
            .run(move |a| a.answer(other))
            .await
            .and_then(|r| r),
    };
    match answered {
        Ok(mut v) => {
            v["ok"] = v.get("ok").cloned().unwrap_or(true.into());
            v["id"] = id;
            v["op"] = op.into();
            Json(v).into_response()
        }
        Err(reason) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
    }
}

#[derive(Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `POST /api/upload?name=x.wav`: the body is the file; the answer its id for a request's
/// input (`{"audio": "upload:…"}`). Over `--upload-limit` bytes: 413.
pub async fn upload(app: State<Arc<App>>, q: Query<UploadQuery>, body: Bytes) -> Response {
    match app.uploads.store(&body, q.name.as_deref()) {
        Ok(id) => Json(json!({"ok": true, "id": id, "bytes": body.len()})).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot keep the upload: {e}"),
        ),
    }
}

/// `GET /api/files/{id}`: an indexed file's path, modality, size and modification time.
pub async fn file(app: State<Arc<App>>, UrlPath(id): UrlPath<String>) -> Response {
    match files::record(&app.index, &id) {
        Ok(Some(r)) => Json(json!({
            "ok": true,
            "id": id,
            "path": mmbind_index::path_text::display(&r.path),
            "modality": r.modality,
            "size": r.size,
            "mtime_ns": r.mtime_ns,
        }))
        .into_response(),
        Ok(None) => not_found(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /api/files/{id}/media`: the file's bytes, while it is the file that was indexed.
pub async fn media(app: State<Arc<App>>, UrlPath(id): UrlPath<String>) -> Response {
    let rec = match files::record(&app.index, &id) {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    // Read whole, so bounded as every input is: by the `file-bytes` limit (--limit).
    let max = mmbind_modalities::Limits::current().file_bytes;
    let read = tokio::task::spawn_blocking(move || (files::read(&rec, max), rec)).await;
    match read {
        Ok((Some(bytes), rec)) => (
            [
                (header::CONTENT_TYPE, files::content_type(&rec.path)),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        _ => not_found(),
    }
}

/// `GET /api/files/{id}/thumb`: a PNG preview (see `thumbs.rs`); 404 for text.
pub async fn thumb(app: State<Arc<App>>, UrlPath(id): UrlPath<String>) -> Response {
    let rec = match files::record(&app.index, &id) {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let Ok(modality) = rec.modality.parse::<Modality>() else {
        return not_found();
    };
    if modality == Modality::Text {
        return error(StatusCode::NOT_FOUND, "text files have no preview");
    }
    let rendered = tokio::task::spawn_blocking(move || {
        // Checked as for its bytes; the decoder then reads the path it checked.
        let (_, path) = files::open(&rec).ok_or(None)?;
        thumbs::render(&path, modality).map_err(Some)
    })
    .await;
    match rendered {
        Ok(Ok(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            png,
        )
            .into_response(),
        Ok(Err(Some(reason))) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
        _ => not_found(),
    }
}

#[derive(Deserialize)]
pub struct SimilarQuery {
    top_k: Option<usize>,
    modality: Option<String>,
}

/// `GET /api/files/{id}/similar?top_k=10&modality=vision`: "more like this", searched with
/// the file's stored vector (nothing is embedded again).
pub async fn similar(
    app: State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    q: Query<SimilarQuery>,
) -> Response {
    let rec = match files::record(&app.index, &id) {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let modalities = match q.modality.as_deref().map(str::parse) {
        None => Vec::new(),
        Some(Ok(m)) => vec![m],
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("{e}")),
    };
    let options = SearchOptions {
        top_k: q.top_k.unwrap_or(DEFAULT_TOP_K),
        threshold: None,
        modalities,
        method: SearchMethod::Auto,
    };
    let search = Search {
        terms: Vec::new(),
        options,
    };
    if let Err(reason) = search.options.check() {
        return error(StatusCode::BAD_REQUEST, reason);
    }
    let vector = rec.vector;
    let found = app
        .engine
        .run(move |a| a.search_embedded(&search, &[(1.0, vector)]))
        .await;
    match found.and_then(|r| r.map(|(hits, method)| app.results(&hits, method))) {
        Ok(mut v) => {
            v["ok"] = true.into();
            Json(v).into_response()
        }
        Err(reason) => error(StatusCode::UNPROCESSABLE_ENTITY, reason),
    }
}

/// `GET /api/stats`: what the index holds and which model answers.
pub async fn stats(app: State<Arc<App>>) -> Response {
    let generation = app.index.generation().ok();
    Json(json!({
        "ok": true,
        "files": app.index.len(),
        "generation": generation,
        "dim": app.index.dim(),
        "model": app.index.model_name(),
        "model_hash": app.index.model_id(),
    }))
    .into_response()
}

/// `GET /api/health`.
pub async fn health() -> Response {
    Json(json!({"ok": true})).into_response()
}

pub fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such file in the index")
}

impl App {
    /// A search's results as `batch` gives them, each with its file's id.
    fn results(&self, hits: &[mmbind::search::Hit], method: mmbind::search::SearchMethod) -> Value {
        let mut v = output::search_json(hits, method);
        if let Some(rows) = v["results"].as_array_mut() {
            for (row, hit) in rows.iter_mut().zip(hits) {
                row["id"] = files::id_at(&self.index, &hit.path).into();
            }
        }
        v
    }
}
