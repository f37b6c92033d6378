//! The search page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs) driven over WebDriver, against `mmbind serve`
//! over a small generated world indexed with the tiny fixture model. A caption, an audio
//! file dropped in, an image added to make a sum, "more like this", and a phone-sized
//! window; each state is saved as a screenshot under the test's scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::serve::{Server, http, json_of, serve};
use crate::util::tempdir;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver and one browser session, both ended when dropped.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        }}}});
        let (status, v) = json_of(port, "POST", "/session", &caps);
        assert_eq!(status, 200, "{v}");
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Browser {
            driver,
            port,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let target = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (status, v) = http(
            self.port,
            method,
            &target,
            &["Content-Type: application/json"],
            &body,
        );
        let v: Value = serde_json::from_slice(&v).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Waits until `script` returns true.
    fn wait_for(&self, what: &str, script: &str) {
        let start = Instant::now();
        while self.script(script) != json!(true) {
            let state = self.script("return document.getElementById('status').textContent");
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waiting for {what}; status: {state}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The result cards' paths, in order, once every preview image has loaded.
    fn results(&self, n: usize) -> Vec<String> {
        self.wait_for(
            &format!("{n} results with their previews"),
            &format!(
                "const cards = document.querySelectorAll('#results .card');
                 return cards.length === {n} && !document.body.classList.contains('busy') &&
                   [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0);"
            ),
        );
        let v = self.script(
            "return [...document.querySelectorAll('#results .card')].map(c => c.dataset.path)",
        );
        serde_json::from_value(v).unwrap()
    }

    fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.call("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The paths `/api/query` answers for `input`, top 12 (what the page asks for).
fn query_paths(port: u16, input: Value) -> Vec<String> {
    let (status, v) = json_of(
        port,
        "POST",
        "/api/query",
        &json!({"input": input, "top_k": 12}),
    );
    assert_eq!(status, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

fn upload(port: u16, file: &Path) -> String {
    let name = file.file_name().unwrap().to_str().unwrap();
    let (status, v) = http(
        port,
        "POST",
        &format!("/api/upload?name={name}"),
        &[],
        &std::fs::read(file).unwrap(),
    );
    assert_eq!(status, 200);
    serde_json::from_slice::<Value>(&v).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Writes a 60-scene world, trains the tiny preset on it for two epochs (a model that
/// tells scenes apart, which the random fixture model does not), indexes every file of the
/// world and serves them.
fn world_server(dir: &Path) -> (Server, PathBuf) {
    let world = dir.join("world");
    let model = dir.join("model");
    let ix = dir.join("ix");
    let run = |args: &[&str]| {
        let out = crate::cli::mmbind().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (w, m, i) = (
        world.to_str().unwrap(),
        model.to_str().unwrap(),
        ix.to_str().unwrap(),
    );
    run(&[
        "world",
        "--scenes",
        "60",
        "--holdout-pairs",
        "0",
        "--seed",
        "4",
        "--out",
        w,
    ]);
    run(&[
        "train",
        "--backend",
        "ndarray",
        "--quiet",
        "--data",
        w,
        "--model",
        m,
        "--epochs",
        "2",
    ]);
    run(&[
        "index",
        "--backend",
        "ndarray",
        "--quiet",
        "--model",
        m,
        "--index",
        i,
        "--modality-of",
        "depth/*=depth",
        "--modality-of",
        "thermal/*=thermal",
        w,
    ]);
    (serve(&ix, &[]), world)
}

#[test]
fn the_page_searches_by_caption_file_and_sum_in_chromium() {
    let dir = tempdir();
    let (server, world) = world_server(dir.path());
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let b = Browser::start();
    b.call(
        "POST",
        "/url",
        json!({"url": format!("http://127.0.0.1:{}/", server.port)}),
    );
    b.wait_for(
        "the index's statistics",
        "return /files/.test(document.getElementById('stats').textContent)",
    );

    // A caption: the page shows what the API answers, previews loaded.
    let caption = "a bell and a drum";
    b.type_in("#q", caption);
    b.click("#go");
    let shown = b.results(12);
    assert_eq!(shown, query_paths(server.port, json!({"text": caption})));
    b.screenshot(&shots, "1-caption.png");

    // An audio file dropped on the page (a drop event carrying the file, as a desktop's
    // drag and drop delivers it; the modality is guessed from its name).
    let sound = std::fs::read_dir(world.join("audio"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let upload_id = upload(server.port, &sound);
    let (_, v) = json_of(
        server.port,
        "POST",
        "/api/query",
        &json!({"input": {"audio": upload_id}, "top_k": 1}),
    );
    let file_id = v["results"][0]["id"].as_str().unwrap().to_string();
    let name = sound.file_name().unwrap().to_str().unwrap();
    b.click("#clear");
    b.call(
        "POST",
        "/execute/async",
        json!({"script": format!(
            "const done = arguments[arguments.length - 1];
             fetch('/api/files/{file_id}/media').then(r => r.blob()).then(blob => {{
               const dt = new DataTransfer();
               dt.items.add(new File([blob], '{name}', {{type: 'audio/wav'}}));
               document.getElementById('drop').dispatchEvent(
                 new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}}));
               done(true);
             }});"
        ), "args": []}),
    );
    let shown = b.results(12);
    assert_eq!(shown, query_paths(server.port, json!({"audio": upload_id})));
    let terms = b.script("return document.getElementById('term-list').textContent");
    assert!(
        terms.as_str().unwrap().contains(&format!("audio: {name}")),
        "{terms}"
    );
    b.screenshot(&shots, "2-audio.png");

    // Its scene's image added: the sum finds that scene's image first.
    let image = world
        .join("vision")
        .join(sound.with_extension("png").file_name().unwrap());
    b.script("document.getElementById('as').value = 'vision'; return true");
    b.type_in("#file", image.to_str().unwrap());
    b.wait_for(
        "two terms",
        "return document.querySelectorAll('#term-list li').length === 2",
    );
    let shown = b.results(12);
    assert_eq!(Path::new(&shown[0]), image, "{shown:?}");
    let terms = b.script("return document.getElementById('term-list').textContent");
    assert!(
        terms.as_str().unwrap().contains("audio") && terms.as_str().unwrap().contains("vision"),
        "{terms}"
    );
    b.screenshot(&shots, "3-sum.png");

    // More like the first result: it comes first itself.
    b.click("#results .card .like");
    b.wait_for(
        "a search like the first",
        "return /like/.test(document.getElementById('status').textContent)",
    );
    let shown = b.results(12);
    assert_eq!(Path::new(&shown[0]), image);
    b.screenshot(&shots, "4-like.png");

    // Every modality's preview renders: a caption's results shown one modality at a time.
    b.type_in("#q", caption);
    b.click("#go");
    b.results(12);
    for (i, m) in ["depth", "thermal", "imu", "audio"].into_iter().enumerate() {
        b.script(&format!(
            "const s = document.getElementById('only'); s.value = '{m}';
             s.dispatchEvent(new Event('change')); return true"
        ));
        let shown = b.results(12);
        assert!(
            shown.iter().all(|p| p.contains(&format!("/{m}/"))),
            "{m}: {shown:?}"
        );
        b.screenshot(&shots, &format!("{}-{m}.png", 6 + i));
    }
    b.script("const s = document.getElementById('only'); s.value = ''; return true");

    // A phone-sized window: nothing wider than the screen.
    b.call("POST", "/window/rect", json!({"width": 390, "height": 844}));
    b.screenshot(&shots, "5-phone.png");
    let wider = b.script(
        "return [...document.querySelectorAll('body *')]
           .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
           .map(e => e.tagName + '#' + e.id + '.' + e.className)",
    );
    assert_eq!(wider, json!([]), "wider than the screen");
    eprintln!("screenshots in {}", shots.display());
}
