//! Damaged and tampered index files (the hardening review's defects, each reproduced here
//! first): nothing may crash, abort or panic, and no damage may go unnoticed.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mmbind_index::synth::{Rng, normalize};
use mmbind_index::*;

fn model(dim: usize) -> ModelInfo {
    ModelInfo::new("b3:integrity", "tiny", dim)
}

type Items = Vec<(String, String, Vec<f32>)>;

fn items(seed: u64, n: usize, dim: usize) -> Items {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| {
            let mut v: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
            normalize(&mut v);
            let m = if i % 3 == 0 { "audio" } else { "vision" };
            (format!("/f/{i:05}"), m.to_string(), v)
        })
        .collect()
}

fn build(dir: &Path, files: &Items, dim: usize, approx: bool) -> Index {
    let mut ix = Index::create_or_open(dir, &model(dim)).unwrap();
    synth::index_files(&mut ix, files).unwrap();
    if approx {
        ix.build_approx(None).unwrap();
    }
    ix
}

fn bytes_of(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The error is one line and names the index.
fn names_index(e: &Error, dir: &Path) -> String {
    let s = e.to_string();
    assert!(
        s.contains(&dir.display().to_string()) && !s.contains('\n'),
        "not one line naming {}: {s}",
        dir.display()
    );
    s
}

/// Copies the index directory `from` to a fresh `to` (SQLite closed: no WAL to copy).
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn sql(dir: &Path, stmt: &str) {
    let c = rusqlite::Connection::open(dir.join("index.sqlite")).unwrap();
    c.execute_batch(&format!("PRAGMA foreign_keys = OFF; {stmt}"))
        .unwrap();
}

fn top(ix: &Index, q: &[f32]) -> Hit {
    ix.search(q, 1, &Filter::default()).unwrap().remove(0)
}

#[test]
fn graph_byte_flips_never_crash_and_are_detected() {
    // Before block checksums, 18 of 40 such flips crashed `search_approx` inside usearch.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (n, dim) = (3000, 64);
    let files = items(1, n, dim);
    drop(build(&dir, &files, dim, true));
    let graph = dir.join("hnsw.usearch");
    let good = std::fs::read(&graph).unwrap();
    assert!(good.len() > 1 << 20, "more than one block");
    let mut r = Rng::new(7);
    for seed in 0..120 {
        let mut b = good.clone();
        // Mostly the body (usearch's own bytes), sometimes the table and footer.
        let at = if seed % 4 == 3 {
            good.len() - 1 - r.below(4096 + 64) as usize
        } else {
            r.below(good.len() as u64 - 4096) as usize
        };
        b[at] ^= 1 << r.below(8);
        std::fs::write(&graph, &b).unwrap();
        let mut ix = Index::open(&dir).unwrap();
        let q = &files[(seed * 7) % n].2;
        match ix.search_approx(q, 10, &Filter::default(), Some(64)) {
            Err(e @ Error::Corrupt { .. }) => {
                let s = names_index(&e, &dir);
                assert!(s.contains("hnsw.usearch"), "{s}");
            }
            other => panic!("flip {seed} at byte {at}: {other:?}"),
        }
        // Automatic search falls back to the exact scan, and says why.
        ix.set_approx_min_items(1);
        let (hits, method) = ix.search_auto(q, 3, &Filter::default()).unwrap();
        assert_eq!(method, SearchMethod::Exact);
        assert_eq!(hits[0].path, files[(seed * 7) % n].0);
        let w = ix.take_warnings();
        assert!(
            w.len() == 1 && w[0].contains("hnsw.usearch") && w[0].contains("searching exactly"),
            "{w:?}"
        );
        assert!(ix.check().unwrap().approx.is_damaged());
    }
    // A writer rebuilds the damaged graph from scratch, never updating it in place.
    let mut ix = Index::open(&dir).unwrap();
    let rep = ix.build_approx(None).unwrap();
    assert_eq!(rep.approx_built, Some(false), "{rep:?}");
    let rep = ix.check().unwrap();
    assert!(rep.is_clean() && rep.approx == FileState::Fresh, "{rep:?}");
    let hits = ix
        .search_approx(&files[5].2, 1, &Filter::default(), None)
        .unwrap();
    assert_eq!(hits[0].path, files[5].0);
}

#[test]
fn matrix_byte_flips_are_detected_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (n, dim) = (5000, 64);
    let files = items(3, n, dim);
    drop(build(&dir, &files, dim, false));
    let mat = dir.join("vectors.mat");
    let good = std::fs::read(&mat).unwrap();
    assert!(good.len() > 1 << 20, "more than one block");
    let mut r = Rng::new(11);
    for seed in 0..30 {
        let mut b = good.clone();
        // Half in the vectors, half anywhere (header, catalog, checksum table).
        let at = if seed % 2 == 0 {
            4096 + r.below((n * dim * 4) as u64) as usize
        } else {
            r.below(good.len() as u64) as usize
        };
        b[at] ^= 1 << r.below(8);
        std::fs::write(&mat, &b).unwrap();
        let ix = Index::open(&dir).unwrap();
        let check = ix.check().unwrap();
        assert!(
            check.matrix.is_damaged() && !check.is_clean(),
            "flip {seed} at {at}: {check:?}"
        );
        // Searching rebuilds it from the database (and says so); every answer is right.
        let i = (at.saturating_sub(4096) / (dim * 4)).min(n - 1);
        let hit = top(&ix, &files[i].2);
        assert!(
            hit.path == files[i].0 && (hit.score - 1.0).abs() < 1e-5,
            "{hit:?}"
        );
        let w = ix.take_warnings();
        assert!(
            w.len() == 1 && w[0].contains("vectors.mat") && w[0].contains("rebuilding"),
            "{w:?}"
        );
        assert!(ix.check().unwrap().is_clean());
    }

    // A re-index after damage never copies the damaged rows into the new matrix.
    let mut b = good.clone();
    b[4096 + 10 * dim * 4 + 3] ^= 0x40; // row 10's first float, high byte
    std::fs::write(&mat, &b).unwrap();
    let mut ix = Index::open(&dir).unwrap();
    let mut more = files.clone();
    more.extend(
        items(4, 10, dim)
            .into_iter()
            .map(|(p, m, v)| (p + "b", m, v)),
    );
    synth::index_files(&mut ix, &more).unwrap();
    let rep = ix.check().unwrap();
    assert!(rep.is_clean() && rep.matrix == FileState::Fresh, "{rep:?}");
    let hit = top(&ix, &files[10].2);
    assert!(hit.path == files[10].0 && (hit.score - 1.0).abs() < 1e-5);
}

#[test]
fn sqlite_vector_blob_flips_are_detected_and_re_embedded() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let (n, dim) = (200, 16);
    let files = items(5, n, dim);
    drop(build(&base, &files, dim, false));
    assert!(!base.join("index.sqlite-wal").exists(), "checkpointed");
    let db = std::fs::read(base.join("index.sqlite")).unwrap();
    // Flip a bit inside file 42's vector, in the database file itself.
    let blob = bytes_of(&files[42].2);
    let at = db
        .windows(blob.len())
        .position(|w| w == blob.as_slice())
        .expect("the vector is stored as is")
        + 21;
    let flipped = |dir: &Path| {
        copy_dir(&base, dir);
        let mut b = db.clone();
        b[at] ^= 0x08;
        std::fs::write(dir.join("index.sqlite"), b).unwrap();
    };
    let victim = files[42].0.as_str();

    let dir = tmp.path().join("a");
    flipped(&dir);
    let mut ix = Index::open(&dir).unwrap();
    let e = ix.get(victim).unwrap_err();
    let s = names_index(&e, &dir);
    assert!(s.contains(victim) && s.contains("checksum"), "{s}");
    let rep = ix.check().unwrap();
    assert_eq!(rep.damaged_paths(), vec![victim], "{rep:?}");
    assert!(rep.damaged_vectors[0].reason.contains("checksum"));
    // The matrix still holds the intact copy; once it has to come from the database, the
    // damaged vector is left out of search, with a warning, and never saved into a matrix.
    std::fs::remove_file(dir.join("vectors.mat")).unwrap();
    ix.refresh();
    let hits = ix.search(&files[42].2, n, &Filter::default()).unwrap();
    assert_eq!(hits.len(), n - 1);
    assert!(hits.iter().all(|h| h.path != victim && h.score <= 1.0001));
    let w = ix.take_warnings();
    assert!(
        w.len() == 1 && w[0].contains(victim) && w[0].contains("left out of search"),
        "{w:?}"
    );
    assert!(
        !dir.join("vectors.mat").exists(),
        "a partial matrix is not saved"
    );
    // Re-indexing drops it (its vector cannot be trusted), and the next run embeds it anew:
    // what `mmbind index` does in one run.
    let (_, st) = synth::index_files(&mut ix, &files).unwrap();
    assert_eq!(st.rebuild.dropped.len(), 1, "{st:?}");
    assert_eq!(st.rebuild.dropped[0].0, victim);
    let (embedded, _) = synth::index_files(&mut ix, &files).unwrap();
    assert_eq!(embedded, 1);
    let rep = ix.check().unwrap();
    assert!(rep.is_clean() && rep.files == n, "{rep:?}");
    assert_eq!(top(&ix, &files[42].2).path, victim);

    // `repair` rebuilds derived files but keeps damaged vectors unless told to drop them.
    let dir = tmp.path().join("b");
    flipped(&dir);
    std::fs::remove_file(dir.join("vectors.mat")).unwrap();
    let mut ix = Index::open(&dir).unwrap();
    let rep = ix.repair(None, false).unwrap();
    assert!(rep.rebuild.dropped.is_empty());
    assert_eq!(ix.check().unwrap().damaged_paths(), vec![victim]);
    let rep = ix.repair(None, true).unwrap();
    assert_eq!(rep.rebuild.dropped.len(), 1);
    let rep = ix.check().unwrap();
    assert!(rep.is_clean() && rep.files == n - 1, "{rep:?}");
}

#[test]
fn sqlite_file_byte_flips_never_panic_and_errors_name_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let (n, dim) = (300, 16);
    let files = items(6, n, dim);
    drop(build(&base, &files, dim, false));
    let db = std::fs::read(base.join("index.sqlite")).unwrap();
    let mut r = Rng::new(99);
    let mut noticed = 0;
    for seed in 0..60 {
        let dir = tmp.path().join(format!("s{seed}"));
        copy_dir(&base, &dir);
        let mut b = db.clone();
        for _ in 0..3 {
            let at = r.below(db.len() as u64) as usize;
            b[at] ^= 1 << r.below(8);
        }
        std::fs::write(dir.join("index.sqlite"), b).unwrap();
        std::fs::remove_file(dir.join("vectors.mat")).unwrap();
        let mut errors = Vec::new();
        match Index::open(&dir) {
            Err(e) => errors.push(names_index(&e, &dir)),
            Ok(mut ix) => {
                match ix.check() {
                    Ok(rep) if !rep.is_clean() => noticed += 1,
                    Ok(_) => {}
                    Err(e) => errors.push(names_index(&e, &dir)),
                }
                if let Err(e) = ix.search(&files[1].2, 5, &Filter::default()) {
                    errors.push(names_index(&e, &dir));
                }
                if let Err(e) = ix.paths() {
                    errors.push(names_index(&e, &dir));
                }
                if let Err(e) = synth::index_files(&mut ix, &files) {
                    errors.push(names_index(&e, &dir));
                }
            }
        }
        if !errors.is_empty() {
            noticed += 1;
        }
    }
    assert!(
        noticed > 10,
        "only {noticed} of 60 damaged databases noticed"
    );
}

#[test]
fn tampered_rows_are_clear_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let dim = 16;
    let files = items(7, 30, dim);
    drop(build(&base, &files, dim, false));
    let case = |name: &str, stmt: &str| -> PathBuf {
        let dir = tmp.path().join(name);
        copy_dir(&base, &dir);
        sql(&dir, stmt);
        // The matrix must come from the database again.
        std::fs::remove_file(dir.join("vectors.mat")).unwrap();
        dir
    };

    // A uid of 32 bytes that are not hex digits (this panicked in store.rs).
    let dir = case(
        "uid",
        "UPDATE meta SET value = 'aééééééééééééééb' WHERE key = 'uid'",
    );
    let s = names_index(&Index::open(&dir).unwrap_err(), &dir);
    assert!(s.contains("uid"), "{s}");

    for (name, value) in [("dim0", "0"), ("dimbig", "99999999999")] {
        let dir = case(
            name,
            &format!("UPDATE meta SET value = '{value}' WHERE key = 'dim'"),
        );
        let s = names_index(&Index::open(&dir).unwrap_err(), &dir);
        assert!(s.contains("dimension"), "{s}");
    }

    let dir = case(
        "gen",
        "UPDATE meta SET value = 'x' WHERE key = 'generation'",
    );
    let ix = Index::open(&dir).unwrap();
    let s = names_index(
        &ix.search(&files[0].2, 1, &Filter::default()).unwrap_err(),
        &dir,
    );
    assert!(s.contains("generation"), "{s}");

    // A path that is not UTF-8 (damaged pages surfaced as a bare "invalid utf-8").
    let dir = case(
        "path",
        "UPDATE files SET path = CAST(X'2f66ff' AS TEXT) WHERE id = 3",
    );
    let mut ix = Index::open(&dir).unwrap();
    let s = names_index(
        &ix.search(&files[0].2, 1, &Filter::default()).unwrap_err(),
        &dir,
    );
    assert!(
        s.contains("file row 3") && s.contains("neither UTF-8 text"),
        "{s}"
    );
    let s = names_index(&ix.paths().unwrap_err(), &dir);
    assert!(s.contains("damaged"), "{s}");
    let rep = ix.check().unwrap();
    assert_eq!(rep.bad_files.len(), 1, "{rep:?}");
    let rep = ix.repair(None, true).unwrap();
    assert_eq!(rep.dropped_rows.len(), 1);
    assert!(ix.check().unwrap().is_clean());
    assert_eq!(top(&ix, &files[0].2).path, files[0].0);

    for (name, stmt, what) in [
        (
            "size",
            "UPDATE files SET size = 'abc' WHERE id = 2",
            "size or modification time",
        ),
        (
            "hash",
            "UPDATE files SET hash = X'00' WHERE id = 2",
            "content hash",
        ),
        // A name that is not UTF-8 is a BLOB; a UTF-8 BLOB would be a second `/f/00001`.
        (
            "pathblob",
            "UPDATE files SET path = CAST(path AS BLOB) WHERE id = 2",
            "neither UTF-8 text",
        ),
        // A TEXT holding the text form of a non-UTF-8 name would be a second row for it.
        (
            "pathnul",
            "UPDATE files SET path = '/f/0' || char(0) || 'e9' WHERE id = 2",
            "neither UTF-8 text",
        ),
    ] {
        let dir = case(name, stmt);
        let mut ix = Index::open(&dir).unwrap();
        let s = names_index(&synth::index_files(&mut ix, &files).unwrap_err(), &dir);
        assert!(s.contains(what), "{s}");
        assert_eq!(ix.check().unwrap().bad_files.len(), 1);
    }

    // A file pointing at no vector, and a vector of the wrong length.
    let dir = case(
        "dangling",
        "UPDATE files SET vector_id = 99999 WHERE id = 4",
    );
    let ix = Index::open(&dir).unwrap();
    assert_eq!(
        ix.search(&files[0].2, 100, &Filter::default())
            .unwrap()
            .len(),
        29
    );
    assert!(ix.take_warnings()[0].contains(&files[3].0));
    let rep = ix.check().unwrap();
    assert!(rep.damaged_vectors[0].reason.contains("missing"), "{rep:?}");
    let dir = case("short", "UPDATE vectors SET data = X'0000' WHERE id = 5");
    let ix = Index::open(&dir).unwrap();
    let e = ix.get(&files[4].0).unwrap_err();
    names_index(&e, &dir);
}

#[test]
fn any_top_k_and_ef_are_clamped_never_abort() {
    // `--top-k 18446744073709551615` aborted the process inside usearch (its result buffer).
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let files = items(2, 50, dim);
    let mut ix = build(tmp.path(), &files, dim, true);
    ix.set_approx_min_items(1);
    let q = &files[0].2;
    let f = Filter::default();
    for k in [usize::MAX, u32::MAX as usize + 7, 51, 50] {
        assert_eq!(ix.search(q, k, &f).unwrap().len(), 50);
        assert_eq!(ix.search_approx(q, k, &f, None).unwrap().len(), 50);
        assert_eq!(
            ix.search_approx(q, k, &f, Some(usize::MAX)).unwrap().len(),
            50
        );
        let (hits, method) = ix.search_auto(q, k, &f).unwrap();
        assert!(matches!(method, SearchMethod::Approx { .. }) && hits.len() == 50);
        assert_eq!(ix.search_batch(q, k, &f).unwrap()[0].len(), 50);
        assert!(recall_at_k(&ix, q, k, Some(usize::MAX)).unwrap() > 0.99);
    }
    let hits = ix.search_approx(q, 3, &f, Some(usize::MAX)).unwrap();
    assert_eq!(hits[0].path, files[0].0);
    assert_eq!(ix.search(q, 0, &f).unwrap().len(), 0);
    assert_eq!(ix.search_approx(q, 0, &f, Some(0)).unwrap().len(), 0);
}

/// Rewrites a current index as the previous version wrote it: schema 1 (no checksums),
/// `VERSION` 1, a format-1 matrix header and a format-4 graph footer (old checksums).
fn make_previous_version(dir: &Path) {
    sql(
        dir,
        "ALTER TABLE vectors DROP COLUMN checksum; UPDATE meta SET value = '1' WHERE key = 'schema_version'; PRAGMA user_version = 1;",
    );
    std::fs::write(dir.join("VERSION"), "mmbind-index 1\n").unwrap();
    let old_header = |b: &mut [u8], at: usize, format: u32| {
        b[at + 8..at + 12].copy_from_slice(&format.to_le_bytes());
        let h = blake3::hash(&b[at..at + 128]);
        b[at + 128..at + 136].copy_from_slice(&h.as_bytes()[..8]);
    };
    let mut m = std::fs::read(dir.join("vectors.mat")).unwrap();
    old_header(&mut m, 0, 1);
    std::fs::write(dir.join("vectors.mat"), m).unwrap();
    let mut g = std::fs::read(dir.join("hnsw.usearch")).unwrap();
    let at = g.len() - 4096;
    old_header(&mut g, at, 4);
    std::fs::write(dir.join("hnsw.usearch"), g).unwrap();
}

#[test]
fn an_index_of_the_previous_version_opens_and_rebuilds_its_derived_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let files = items(8, 120, dim);
    drop(build(tmp.path(), &files, dim, true));
    make_previous_version(tmp.path());

    let mut ix = Index::open(tmp.path()).unwrap();
    // Migrated on open: schema 2, every vector with its checksum.
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("VERSION")).unwrap(),
        "mmbind-index 2\n"
    );
    let rep = ix.check().unwrap();
    assert_eq!(
        (
            rep.matrix.clone(),
            rep.approx.clone(),
            rep.unverified_vectors
        ),
        (FileState::OldFormat, FileState::OldFormat, 0)
    );
    assert!(rep.is_clean(), "old derived files are not damage: {rep:?}");
    // Old derived files are rebuilt silently: the matrix at once, the graph by the next
    // update (until then automatic search is exact).
    ix.set_approx_min_items(1);
    let (hits, method) = ix.search_auto(&files[7].2, 1, &Filter::default()).unwrap();
    assert_eq!(
        (hits[0].path.as_str(), method),
        (files[7].0.as_str(), SearchMethod::Exact)
    );
    assert!(ix.take_warnings().is_empty());
    assert_eq!(ix.check().unwrap().matrix, FileState::Fresh);
    let st = synth::index_files(&mut ix, &files).unwrap().1;
    assert_eq!(st.rebuild.approx_built, Some(false));
    let rep = ix.check().unwrap();
    assert!(rep.is_clean() && rep.approx == FileState::Fresh, "{rep:?}");
}

#[test]
fn kept_prefixes_are_never_removed() {
    // Files under a directory that could not be read are still there: not removed.
    let tmp = tempfile::tempdir().unwrap();
    let dim = 8;
    let all = items(9, 6, dim)
        .into_iter()
        .enumerate()
        .map(|(i, (_, m, v))| {
            let p = if i < 2 {
                format!("/a/x{i}")
            } else {
                format!("/a/sub/y{i}")
            };
            (p, m, v)
        })
        .collect::<Items>();
    let mut ix = build(tmp.path(), &all, dim, false);
    let stats = synth::file_stats(&all[..2]);
    let hasher = |s: &FileStat| Ok(ContentHash::of_bytes(s.path.as_bytes()));
    let scope = ["/a".to_string()];
    let mut w = ix.writer(None).unwrap();
    let plan = |w: &mut Writer, keep: &[String]| {
        w.plan_with(
            &stats,
            &PlanOptions {
                scope: Some(&scope),
                hasher: Some(&hasher),
                keep,
            },
        )
        .unwrap()
    };
    assert_eq!(plan(&mut w, &[]).remove.len(), 4);
    assert!(plan(&mut w, &["/a/sub".to_string()]).remove.is_empty());
    assert!(plan(&mut w, &["/a/sub/".to_string()]).remove.is_empty());
    assert_eq!(plan(&mut w, &["/a/su".to_string()]).remove.len(), 4);
}

#[test]
fn fifos_are_refused_at_once() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe.png");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let e = FileStat::from_path(&fifo, "vision").unwrap_err();
    assert!(e.to_string().contains("a FIFO"), "{e}");
    // Hashing one (a file replaced by a FIFO after the walk) fails at once, not blocking.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = fifo.clone();
    let t = Instant::now();
    std::thread::spawn(move || tx.send(hash_file(&p).map_err(|e| e.to_string())));
    let r = rx.recv_timeout(Duration::from_secs(10)).expect("no hang");
    assert!(r.unwrap_err().contains("a FIFO"));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn names_that_are_not_utf8_are_indexed_exactly() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    // The Latin-1 name, its UTF-8 twin, its escaped display form and its lossy form: four
    // files, four identities.
    let names: [&[u8]; 4] = [
        b"caf\xe9.png",
        "café.png".as_bytes(),
        b"caf\\xe9.png",
        "caf\u{fffd}.png".as_bytes(),
    ];
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| tmp.path().join(std::ffi::OsStr::from_bytes(n)))
        .collect();
    for (i, p) in paths.iter().enumerate() {
        std::fs::write(p, format!("content {i}")).unwrap();
    }
    let stats: Vec<FileStat> = (paths.iter())
        .map(|p| FileStat::from_path(p, "vision").unwrap())
        .collect();
    let texts: HashSet<&str> = stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(texts.len(), 4);
    assert_eq!(path_text::decode(&stats[0].path), paths[0]);
    assert!(path_text::display(&stats[0].path).ends_with("/caf\\xe9.png"));

    let dim = 8;
    let vectors = items(3, 4, dim);
    let dir = tmp.path().join("ix");
    let mut ix = Index::create_or_open(&dir, &model(dim)).unwrap();
    let mut w = ix.writer(None).unwrap();
    // The default hasher opens each file by its stored name.
    let plan = w.plan(&stats).unwrap();
    assert_eq!(
        (plan.embed.len(), plan.failed.len()),
        (4, 0),
        "{:?}",
        plan.failed
    );
    let batch: Vec<_> = (plan.embed.iter())
        .map(|p| {
            let i = stats.iter().position(|s| s.path == p.stat.path).unwrap();
            (p, vectors[i].2.as_slice())
        })
        .collect();
    w.commit_batch(&batch).unwrap();
    w.finish(&plan).unwrap();
    drop(ix);
    let c = rusqlite::Connection::open(dir.join("index.sqlite")).unwrap();
    let kinds: Vec<String> = (c
        .prepare("SELECT typeof(path) FROM files ORDER BY path")
        .unwrap())
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    assert_eq!(kinds, ["text", "text", "text", "blob"]);
    drop(c);

    // Every reader gives the name back exactly: search from a rebuilt matrix, get, paths,
    // check, and the next plan.
    std::fs::remove_file(dir.join("vectors.mat")).unwrap();
    let mut ix = Index::open(&dir).unwrap();
    for (s, v) in stats.iter().zip(&vectors) {
        assert_eq!(top(&ix, &v.2).path, s.path);
        assert_eq!(ix.get(&s.path).unwrap().unwrap().path, s.path);
    }
    let listed: HashSet<String> = ix.paths().unwrap().into_iter().map(|p| p.0).collect();
    assert_eq!(listed, texts.iter().map(|t| t.to_string()).collect());
    assert!(ix.check().unwrap().is_clean());
    let mut w = ix.writer(None).unwrap();
    let plan = w.plan(&stats).unwrap();
    assert_eq!((plan.unchanged, plan.hashed), (4, 0));
    // Gone from the disk, gone from the index.
    let plan = w.plan(&stats[1..]).unwrap();
    assert_eq!(plan.remove, [stats[0].path.clone()]);
    assert_eq!(w.finish(&plan).unwrap().removed, 1);
    assert_eq!(ix.paths().unwrap().len(), 3);
}

/// The cost of verifying a matrix on open, for the README: `cargo test --release -p
/// mmbind-index --test integrity -- --ignored --nocapture` (`MEASURE_DIM=1024` for wider
/// vectors).
#[test]
#[ignore]
fn measure_matrix_verification_100k_x_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = std::env::var("MEASURE_DIM").map_or(64, |d| d.parse().unwrap());
    let n = 100_000;
    let files = items(10, n, dim);
    drop(build(tmp.path(), &files, dim, false));
    let size = std::fs::metadata(tmp.path().join("vectors.mat"))
        .unwrap()
        .len();
    let mut times = Vec::new();
    for _ in 0..7 {
        let ix = Index::open(tmp.path()).unwrap();
        let t = Instant::now();
        let m = ix.matrix().unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(m.is_persisted() && m.len() == n);
    }
    times.sort_by(f64::total_cmp);
    let ix = Index::open(tmp.path()).unwrap();
    ix.matrix().unwrap();
    let mut scans: Vec<f64> = (0..7)
        .map(|i| {
            let t = Instant::now();
            ix.search(&files[i].2, 10, &Filter::default()).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    scans.sort_by(f64::total_cmp);
    let t = Instant::now();
    let rep = ix.check().unwrap();
    let check_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(rep.is_clean());
    eprintln!(
        "matrix {size} bytes ({n} x {dim}): open+verify median {:.2} ms (min {:.2}, max {:.2}); one exact query median {:.2} ms; full check {check_ms:.0} ms",
        times[3], times[0], times[6], scans[3]
    );
}

/// The cost of loading the graph (block checksums, the structural check of every neighbour
/// list, usearch's view) against one approximate query on the loaded graph, for the README:
/// `cargo test --release -p mmbind-index --test integrity measure_graph -- --ignored
/// --nocapture` (`MEASURE_DIM`, `MEASURE_N` to change the size).
#[test]
#[ignore]
fn measure_graph_load_100k_x_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = std::env::var("MEASURE_DIM").map_or(64, |d| d.parse().unwrap());
    let n = std::env::var("MEASURE_N").map_or(100_000, |d| d.parse().unwrap());
    let files = items(11, n, dim);
    drop(build(tmp.path(), &files, dim, true));
    let size = std::fs::metadata(tmp.path().join("hnsw.usearch"))
        .unwrap()
        .len();
    let ix = Index::open(tmp.path()).unwrap();
    ix.matrix().unwrap();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut loads, mut queries) = (Vec::new(), Vec::new());
    for i in 0..7 {
        ix.refresh();
        ix.matrix().unwrap();
        let t = Instant::now();
        ix.search_approx(&files[i].2, 10, &Filter::default(), None)
            .unwrap();
        loads.push(ms(t));
        let t = Instant::now();
        ix.search_approx(&files[i + 7].2, 10, &Filter::default(), None)
            .unwrap();
        queries.push(ms(t));
    }
    loads.sort_by(f64::total_cmp);
    queries.sort_by(f64::total_cmp);
    eprintln!(
        "graph {size} bytes ({n} x {dim}): first query (load + query) median {:.2} ms (min {:.2}, max {:.2}); a query on the loaded graph median {:.3} ms",
        loads[3], loads[0], loads[6], queries[3]
    );
}
