//! `mmbind serve`: the model and an index loaded once, answering over HTTP (axum on tokio).

mod api;
mod engine;
mod files;
mod page;
mod thumbs;
mod uploads;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use clap::Args;

use crate::results;
use crate::{GlobalArgs, Outcome};
use engine::Engine;
use mmbind::search::Index;
use uploads::Uploads;

/// Serve search over HTTP: a JSON API (the protocol of `batch`) for scripts and pages.
///
/// Loads the model and the index once and answers until Ctrl-C. The index may be updated
/// by `mmbind index` meanwhile: every search sees its newest generation.
///
/// Open http://ADDR/ (with --token: http://ADDR/?token=T) for the search page: text, files
/// dropped or picked, sums and differences with weights, previews of every modality.
///
/// Routes (JSON unless said; every one needs `Authorization: Bearer T` with --token):
///   POST /api/embed | /api/query | /api/add | /api/classify   a `batch` request as the body
///        file inputs are "upload:ID" or "file:ID", never paths; results carry each file's "id"
///   POST /api/upload?name=x.wav     the body is a file; → {"id": "upload:…"}
///   GET  /api/files/ID              an indexed file's path, modality, size
///   GET  /api/files/ID/media        its bytes (while it is the file that was indexed)
///   GET  /api/files/ID/thumb        a PNG preview (images; depth, thermal, audio, IMU drawn)
///   GET  /api/files/ID/similar?top_k=10&modality=vision   "more like this"
///   GET  /api/stats, /api/health
///
/// Examples:
///   mmbind serve --index photos.idx
///   curl -s localhost:7878/api/query -d '{"input": {"text": "a dog"}, "top_k": 5}'
///   curl -s localhost:7878/api/upload?name=dog.wav --data-binary @dog.wav
///   curl -s localhost:7878/api/query -d '{"input": {"audio": "upload:…"}}'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// The index directory (from `mmbind index`).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// The model directory (default: the one the index was built with).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Address to listen on. Anything but a loopback address needs --token.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Require `Authorization: Bearer TOKEN` (or `?token=TOKEN`) on every route.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MMBIND_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The largest upload, in bytes (larger ones get 413).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub upload_limit: usize,
}

/// What every handler shares.
pub struct App {
    engine: Engine,
    index: Arc<Index>,
    uploads: Uploads,
    token: Option<String>,
}

impl App {
    /// The path behind a request's file input: an upload's or an indexed file's.
    fn resolve(&self, given: &Path) -> Result<PathBuf, String> {
        let text = given.to_string_lossy();
        let found = if let Some(hex) = text.strip_prefix("upload:") {
            self.uploads.path(hex)
        } else if let Some(id) = text.strip_prefix("file:") {
            let rec = files::record(&self.index, id)?;
            rec.map(|r| mmbind_index::path_text::decode(&r.path).into_owned())
        } else {
            return Err(format!(
                "'{text}': a file input is \"upload:ID\" (POST /api/upload) or \"file:ID\" (an indexed file), not a path"
            ));
        };
        found.ok_or_else(|| format!("'{text}' is not (or no longer) here"))
    }
}

pub fn run(args: &ServeArgs, global: &GlobalArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.listen.ip().is_loopback() || args.token.is_some(),
        "listening on {} (not a loopback address) needs --token",
        args.listen
    );
    anyhow::ensure!(
        args.token.as_ref().is_none_or(|t| !t.is_empty()),
        "--token must not be empty"
    );
    let (index, model, compute) = results::open(&args.index, args.model.as_deref(), global)?;
    let index = Arc::new(index);
    let app = Arc::new(App {
        engine: Engine::start(model, compute, index.clone())?,
        index,
        uploads: Uploads::new()?,
        token: args.token.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(app, args))?;
    Ok(Outcome::Ok)
}

async fn serve(app: Arc<App>, args: &ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let notify = stop.clone();
    crate::process::stop_on_interrupt(&Arc::new(AtomicBool::new(false)), move || {
        notify.notify_one()
    });
    eprintln!(
        "serving {} on http://{addr} (Ctrl-C stops)",
        args.index.display()
    );
    axum::serve(listener, router(app, args.upload_limit))
        .with_graceful_shutdown(async move { stop.notified().await })
        .await?;
    Ok(())
}

fn router(app: Arc<App>, upload_limit: usize) -> Router {
    let request_limit = mmbind_modalities::Limits::current().request_bytes as usize;
    let op = |name: &'static str| {
        post(move |app, body| api::request(app, name, body))
            .layer(DefaultBodyLimit::max(request_limit))
    };
    Router::new()
        .route("/", get(page::html))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/embed", op("embed"))
        .route("/api/query", op("query"))
        .route("/api/add", op("add"))
        .route("/api/classify", op("classify"))
        .route(
            "/api/upload",
            post(api::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/files/{id}", get(api::file))
        .route("/api/files/{id}/media", get(api::media))
        .route("/api/files/{id}/thumb", get(api::thumb))
        .route("/api/files/{id}/similar", get(api::similar))
        .route("/api/stats", get(api::stats))
        .route("/api/health", get(api::health))
        .fallback(|| async { api::error(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .with_state(app)
}

/// With --token, every route needs it: `Authorization: Bearer TOKEN`, or `?token=TOKEN`
/// for what a browser loads by URL (media).
async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    let header = (request.headers().get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let query = (request.uri().query())
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .map(percent_decoded);
    if header.is_some_and(|t| same(t, token)) || query.is_some_and(|t| same(&t, token)) {
        next.run(request).await
    } else {
        let mut r = api::error(StatusCode::UNAUTHORIZED, "this server needs its token");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("ascii"));
        r
    }
}

/// A URL query value with its `%XX` escapes (and `+` for space) decoded, as a page's
/// `encodeURIComponent` writes them; a bad escape stays as it is.
fn percent_decoded(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares in time that does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_decode_from_urls() {
        assert!(same("s3cret", "s3cret"));
        assert!(!same("s3cre", "s3cret") && !same("s3creT", "s3cret") && !same("", "x"));
        assert_eq!(percent_decoded("a%2Fb%20c+d%zz%4"), "a/b c d%zz%4");
        assert_eq!(percent_decoded("%E2%9C%93"), "✓");
    }
}
