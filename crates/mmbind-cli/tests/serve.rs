//! `mmbind serve` end to end over loopback: the HTTP API answers `batch`'s protocol with the
//! same results as `query`, serves indexed files by id only, picks up a new generation of the
//! index, and refuses what it must (paths, unknown and removed ids, links, oversized uploads,
//! malformed JSON, a missing token) with the status the API documents.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::search::{index, query_json, write_texts};
use crate::util::{fixture, tempdir};

/// A running `mmbind serve`, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mmbind serve --index IX` on a free loopback port with `extra` flags.
pub(crate) fn serve(ix: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("mmbind"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args([
            "serve",
            "--backend",
            "ndarray",
            "--listen",
            "127.0.0.1:0",
            "--index",
        ])
        .arg(ix)
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("serve said where it listens").unwrap();
        if let Some(at) = line.split("http://127.0.0.1:").nth(1) {
            break at.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, port }
}

/// One HTTP/1.1 exchange: the status and the body.
pub(crate) fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, Vec<u8>) {
    crate::http_client::exchange(port, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

pub(crate) fn json_of(port: u16, method: &str, target: &str, body: &Value) -> (u16, Value) {
    let (status, bytes) = http(port, method, target, &[], body.to_string().as_bytes());
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub(crate) fn get(port: u16, target: &str) -> (u16, Value) {
    let (status, bytes) = http(port, "GET", target, &[], b"");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn serve_answers_like_query_serves_files_by_id_and_refuses_the_rest() {
    let dir = tempdir();
    let notes = write_texts(&dir.path().join("notes"), 12);
    let ix = dir.path().join("ix");
    index(&ix, &[&dir.path().join("notes")], 0);
    let server = serve(&ix, &["--upload-limit", "100000"]);
    let port = server.port;
    assert_eq!(get(port, "/api/health"), (200, json!({"ok": true})));
    let (status, stats) = get(port, "/api/stats");
    assert_eq!((status, &stats["files"]), (200, &json!(12)));

    // The same protocol and the same answer as `mmbind query`.
    let (status, v) = json_of(
        port,
        "POST",
        "/api/query",
        &json!({"id": 7, "input": {"text": "a red dog"}, "top_k": 4}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["ok"], &v["id"], &v["op"]),
        (&json!(true), &json!(7), &json!("query"))
    );
    let (cli, stderr, code) = query_json(&ix, "a red dog", &["--top-k", "4"]);
    assert_eq!(code, Some(0), "{stderr}");
    let results = v["results"].as_array().unwrap();
    let expected = cli[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (r, e) in results.iter().zip(expected) {
        assert_eq!(
            (&r["path"], &r["score"], &r["rank"]),
            (&e["path"], &e["score"], &e["rank"])
        );
    }

    // An indexed file by its id: record, bytes, more like this.
    let id = results[0]["id"].as_str().unwrap().to_string();
    let path = PathBuf::from(results[0]["path"].as_str().unwrap());
    let (status, rec) = get(port, &format!("/api/files/{id}"));
    assert_eq!((status, rec["path"].as_str()), (200, path.to_str()));
    let (status, bytes) = http(port, "GET", &format!("/api/files/{id}/media"), &[], b"");
    assert_eq!((status, bytes), (200, std::fs::read(&path).unwrap()));
    let (status, like) = get(port, &format!("/api/files/{id}/similar?top_k=2"));
    assert_eq!(status, 200, "{like}");
    assert_eq!(like["results"][0]["id"], json!(id));
    assert!(like["results"][0]["score"].as_f64().unwrap() > 0.999);
    let (status, v) = json_of(
        port,
        "POST",
        "/api/query",
        &json!({"input": {"text": "x"}, "top_k": 1, "modality": ["vision"]}),
    );
    assert_eq!(
        (status, v["results"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );

    // Indexed files as inputs by id; uploads; never paths.
    let (status, v) = json_of(
        port,
        "POST",
        "/api/embed",
        &json!({"inputs": [{"text": "a"}, {"text": format!("file:{id}")}]}),
    );
    assert_eq!(status, 200, "{v}");
    let image = std::fs::read(fixture("image_200x300.png")).unwrap();
    let (status, up) = http(port, "POST", "/api/upload?name=x.png", &[], &image);
    assert_eq!(status, 200);
    let up: Value = serde_json::from_slice(&up).unwrap();
    let upload = up["id"].as_str().unwrap();
    let (status, v) = json_of(
        port,
        "POST",
        "/api/add",
        &json!({"inputs": [{"vision": upload}, {"text": "a dog", "weight": 0.5}], "top_k": 3}),
    );
    assert_eq!(
        (status, v["results"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{v}"
    );
    for given in [
        "/etc/passwd",
        "../notes/note0001.txt",
        &notes[0].display().to_string(),
    ] {
        let (status, v) = json_of(
            port,
            "POST",
            "/api/query",
            &json!({"input": {"vision": given}}),
        );
        assert_eq!(status, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains("not a path"), "{v}");
    }
    let (status, v) = json_of(
        port,
        "POST",
        "/api/query",
        &json!({"input": {"vision": "upload:0123456789abcdef0123456789abcdef"}}),
    );
    assert_eq!(status, 400, "{v}");
    // The limit is the largest upload taken (one byte more is refused, read to its end so
    // that the answer is not lost to a reset connection).
    let (status, _) = http(port, "POST", "/api/upload", &[], &vec![0u8; 100_000]);
    assert_eq!(status, 200);
    let (status, _) = http(port, "POST", "/api/upload", &[], &vec![0u8; 100_001]);
    assert_eq!(status, 413);

    // Malformed and wrong requests: 400 with one line of reason.
    for (body, reason) in [
        (&b"{\"input\": "[..], "malformed JSON"),
        (b"[1]", "a JSON object"),
        (
            b"{\"op\": \"add\", \"input\": {\"text\": \"a\"}}",
            "differs",
        ),
        (b"{\"input\": {\"smell\": \"x\"}}", "unknown field `smell`"),
        (
            b"{\"input\": {\"text\": \"a\"}, \"top_k\": 0}",
            "top-k must be at least 1",
        ),
    ] {
        let (status, v) = http(port, "POST", "/api/query", &[], body);
        let v: Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(status, 400, "{v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains(reason) && !e.contains('\n'), "{e}");
    }

    // Ids that are not a file of the index, however they are spelled.
    let row = id.split('-').next().unwrap();
    for bad in [
        format!("{row}-00000000"),
        "..%2F..%2Fetc%2Fpasswd".into(),
        "%2Fetc%2Fpasswd".into(),
        "999999-12345678".into(),
        "x".into(),
    ] {
        for route in ["", "/media", "/similar"] {
            let (status, _) = http(port, "GET", &format!("/api/files/{bad}{route}"), &[], b"");
            assert_eq!(status, 404, "{bad}{route}");
        }
    }
    let (status, _) = http(port, "GET", "/api/files/../../etc/passwd", &[], b"");
    assert_eq!(status, 404);

    // A file replaced by a link is not served, even to the same content.
    let linked = dir.path().join("elsewhere.txt");
    std::fs::copy(&path, &linked).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&linked, &path).unwrap();
    let (status, _) = http(port, "GET", &format!("/api/files/{id}/media"), &[], b"");
    assert_eq!(status, 404);

    // The index changes under the running server: a removed file's id is gone, a new file
    // is found, without a restart.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(
        dir.path().join("notes/zebra.txt"),
        "a zebra on a zebra crossing",
    )
    .unwrap();
    index(&ix, &[&dir.path().join("notes")], 0);
    let (status, _) = get(port, &format!("/api/files/{id}"));
    assert_eq!(status, 404);
    let (status, v) = json_of(
        port,
        "POST",
        "/api/query",
        &json!({"input": {"text": "a zebra on a zebra crossing"}, "top_k": 1}),
    );
    assert_eq!(status, 200, "{v}");
    assert!(
        v["results"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("zebra.txt"),
        "{v}"
    );
    let (_, stats) = get(port, "/api/stats");
    assert_eq!(stats["files"], json!(12));
}

#[test]
fn a_token_guards_every_route() {
    let dir = tempdir();
    write_texts(&dir.path().join("notes"), 3);
    let ix = dir.path().join("ix");
    index(&ix, &[&dir.path().join("notes")], 0);
    let server = serve(&ix, &["--token", "s3cret"]);
    let port = server.port;
    let query = br#"{"input": {"text": "a dog"}}"#;
    for (method, target, body) in [
        ("GET", "/api/health", &b""[..]),
        ("GET", "/api/stats", b""),
        ("GET", "/api/files/1-00000000/media", b""),
        ("POST", "/api/query", query),
        ("POST", "/api/upload", b"abc"),
        ("GET", "/nowhere", b""),
    ] {
        for headers in [
            &[][..],
            &["Authorization: Bearer wrong"],
            &["Authorization: s3cret"],
        ] {
            let (status, _) = http(port, method, target, headers, body);
            assert_eq!(status, 401, "{method} {target} {headers:?}");
        }
    }
    let (status, _) = http(
        port,
        "POST",
        "/api/query",
        &["Authorization: Bearer s3cret"],
        query,
    );
    assert_eq!(status, 200);
    let (status, _) = http(port, "GET", "/api/health?token=s3cret", &[], b"");
    assert_eq!(status, 200);
}

#[test]
fn a_wrong_setup_is_one_line_and_exit_2() {
    let dir = tempdir();
    write_texts(&dir.path().join("notes"), 2);
    let ix = dir.path().join("ix");
    index(&ix, &[&dir.path().join("notes")], 0);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let nowhere = dir.path().join("nowhere");
    let cases: [(&[&str], &Path, &str); 4] = [
        (&["--listen", "0.0.0.0:0"], &ix, "needs --token"),
        (&["--listen", &busy], &ix, "cannot listen on"),
        (&[], &nowhere, "nowhere"),
        (&["--model", nowhere.to_str().unwrap()], &ix, "nowhere"),
    ];
    for (extra, index, says) in cases {
        let out = crate::cli::mmbind()
            .args(["serve", "--backend", "ndarray", "--index"])
            .arg(index)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(errors.len() == 1 && errors[0].contains(says), "{stderr}");
    }
}
