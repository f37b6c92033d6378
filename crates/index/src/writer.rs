//! Incremental updates: planning (what must be embedded, reused, touched, removed) and
//! committing (batches of vectors, then the rest), each step one SQLite transaction.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::lock::LockGuard;
use crate::path_text::{self, PathText, SqlPath};
use crate::store;
use crate::{Index, RebuildReport};

/// A file as the caller sees it now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// The path as the caller wants it stored and shown (used as the file's identity, and
    /// opened to compute the content hash).
    pub path: String,
    /// Modality name chosen by the caller ("vision", "audio", ...).
    pub modality: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

impl FileStat {
    /// Stat `path` (size and mtime) for `modality`; it is stored as its text form
    /// ([`path_text::encode`]: exact for a name that is not UTF-8). Refuses (`InvalidInput`)
    /// anything but a regular file (opening a FIFO blocks until a writer appears; a device or
    /// socket has no content to hash).
    pub fn from_path(path: &Path, modality: &str) -> io::Result<FileStat> {
        let md = std::fs::metadata(path)?;
        if !md.is_file() {
            return Err(not_regular(&md));
        }
        let mtime_ns = md
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or_else(|e| -(e.duration().as_nanos() as i64));
        Ok(FileStat {
            path: path_text::encode(path).into_owned(),
            modality: modality.to_string(),
            size: md.len(),
            mtime_ns,
        })
    }
}

/// BLAKE3 hash of a file's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of_bytes(b: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(b).as_bytes())
    }
    pub fn hex(&self) -> String {
        store::hex(&self.0)
    }
    fn from_blob(b: &[u8]) -> Option<ContentHash> {
        Some(ContentHash(b.try_into().ok()?))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.hex()[..16])
    }
}
impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

fn not_regular(md: &std::fs::Metadata) -> io::Error {
    let what = file_kind(md);
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file: skipped"),
    )
}

/// What kind of file `md` describes, in words for messages ("a FIFO", "a device", ...):
/// what `index` says of a path it does not take.
pub fn file_kind(md: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = md.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Hash a file's content (BLAKE3, streamed). Only regular files: the file is opened
/// non-blocking and checked after opening, so a FIFO put in a file's place fails at once
/// instead of blocking (while the caller holds the writer lock).
pub fn hash_file(path: &Path) -> io::Result<ContentHash> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let md = f.metadata()?;
    if !md.is_file() {
        return Err(not_regular(&md));
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(f)?;
    Ok(ContentHash(*h.finalize().as_bytes()))
}

/// Why a file is in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Not in the index yet.
    New,
    /// Size or mtime changed and so did the content.
    Modified,
    /// The caller now assigns another modality to the same content.
    ModalityChanged,
    /// Size or mtime changed but the content hash did not: metadata update only.
    Touched,
}

/// One file of a plan, with its content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    pub stat: FileStat,
    pub hash: ContentHash,
    pub change: Change,
    /// For reused vectors: a path that has (or had, for a rename) the same content and
    /// modality — in the index, or earlier in `Plan::embed`. `None` if the vector is an
    /// orphan kept from an interrupted run.
    pub same_content_as: Option<String>,
}

/// What `Writer::plan` decided.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Must be embedded by the caller (one per distinct (content, modality); duplicates of
    /// these are in `reuse`).
    pub embed: Vec<PlannedFile>,
    /// Get their vector from a stored file (or an `embed` entry) with the same content hash and
    /// modality: renames and duplicates. Applied by `finish`.
    pub reuse: Vec<PlannedFile>,
    /// Same content, new size/mtime: metadata update only. Applied by `finish`.
    pub touch: Vec<PlannedFile>,
    /// Files whose stored entry is still current (not re-hashed).
    pub unchanged: usize,
    /// Indexed paths that are no longer present (within the plan's scope). Applied by `finish`.
    pub remove: Vec<String>,
    /// Files that could not be hashed: (path, reason). Left as they are in the index.
    pub failed: Vec<(String, String)>,
    /// How many files were hashed.
    pub hashed: usize,
}

impl Plan {
    /// Reused entries whose source is being removed: renames (new path, old path).
    pub fn renames(&self) -> Vec<(&str, &str)> {
        let removed: HashSet<&str> = self.remove.iter().map(|s| s.as_str()).collect();
        self.reuse
            .iter()
            .filter_map(|p| {
                p.same_content_as
                    .as_deref()
                    .filter(|s| removed.contains(s))
                    .map(|s| (p.stat.path.as_str(), s))
            })
            .collect()
    }
    /// Nothing to do?
    pub fn is_noop(&self) -> bool {
        self.embed.is_empty()
            && self.reuse.is_empty()
            && self.touch.is_empty()
            && self.remove.is_empty()
    }
}

/// A custom content hasher (tests count calls with it).
pub type Hasher<'h> = &'h (dyn Fn(&FileStat) -> io::Result<ContentHash> + Sync);

/// Options of `Writer::plan_with`.
#[derive(Clone, Copy, Default)]
pub struct PlanOptions<'a> {
    /// Only indexed paths under one of these prefixes (compared as path components) may be
    /// removed; `None`: the file list is the complete collection.
    pub scope: Option<&'a [String]>,
    /// Content hasher; default `hash_file(stat.path)`.
    pub hasher: Option<Hasher<'a>>,
    /// Indexed paths under one of these prefixes (compared as path components) are never
    /// removed, listed or not: directories that could not be read and files that could not
    /// be examined, whose files are still there as far as anyone knows.
    pub keep: &'a [String],
}

/// Counts of a commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Files stored with a freshly embedded vector (by this writer, all batches).
    pub embedded: usize,
    /// Files stored with a reused vector.
    pub reused: usize,
    /// Metadata-only updates.
    pub touched: usize,
    /// Files removed.
    pub removed: usize,
    /// Planned embeddings that were never committed (e.g. the caller could not decode them):
    /// those files keep their previous entry, if any.
    pub not_embedded: usize,
    /// Reuse entries whose source vector did not exist at finish time (its `embed` entry was
    /// never committed): not stored.
    pub unresolved: Vec<String>,
    /// Unreferenced vectors deleted.
    pub vectors_collected: usize,
    /// Files in the index afterwards.
    pub files: usize,
    /// Database generation afterwards.
    pub generation: u64,
    /// What happened to the derived files.
    pub rebuild: RebuildReport,
}

fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path == prefix || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
}

/// Exclusive write access to an index (holds the lock file until dropped).
pub struct Writer<'a> {
    pub(crate) index: &'a mut Index,
    pub(crate) _lock: LockGuard,
    pub(crate) committed: HashSet<String>,
    pub(crate) embedded: usize,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.index.dir)
            .field("embedded", &self.embedded)
            .finish()
    }
}

impl<'a> Writer<'a> {
    pub fn index(&self) -> &Index {
        self.index
    }

    /// Plan an update where `files` is the complete collection (indexed paths not listed are
    /// removed). Hashes only new files and files whose size or mtime changed.
    pub fn plan(&mut self, files: &[FileStat]) -> Result<Plan> {
        self.plan_with(files, &PlanOptions::default())
    }

    pub fn plan_with(&mut self, files: &[FileStat], opts: &PlanOptions) -> Result<Plan> {
        let r = self.plan_inner(files, opts);
        self.index.ctx(r)
    }

    fn plan_inner(&mut self, files: &[FileStat], opts: &PlanOptions) -> Result<Plan> {
        let conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.unchecked_transaction()?;
        struct Existing {
            modality: String,
            size: u64,
            mtime_ns: i64,
            hash: ContentHash,
        }
        let mut existing: HashMap<String, Existing> = HashMap::new();
        let mut source_of: HashMap<(ContentHash, String), String> = HashMap::new();
        {
            let mut st = tx
                .prepare("SELECT id, path, modality, size, mtime_ns, hash, vector_id FROM files")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                if let Some(what) = store::check_file_row(r)? {
                    return Err(Error::corrupt_here(what));
                }
                let path = r.get::<_, PathText>(1)?.0;
                let hash = ContentHash::from_blob(r.get_ref(5)?.as_blob()?).ok_or_else(|| {
                    Error::corrupt_here(format!("bad hash for {}", path_text::display(&path)))
                })?;
                let e = Existing {
                    modality: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    mtime_ns: r.get(4)?,
                    hash,
                };
                source_of
                    .entry((hash, e.modality.clone()))
                    .or_insert_with(|| path.clone());
                existing.insert(path, e);
            }
        }
        let mut stored: HashSet<(ContentHash, String)> = HashSet::new();
        {
            let mut st = tx.prepare("SELECT hash, modality FROM vectors")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                if let (rusqlite::types::ValueRef::Blob(h), rusqlite::types::ValueRef::Text(m)) =
                    (r.get_ref(0)?, r.get_ref(1)?)
                    && let (Some(h), Ok(m)) = (ContentHash::from_blob(h), std::str::from_utf8(m))
                {
                    stored.insert((h, m.to_string()));
                }
            }
        }
        tx.finish()?;
        drop(conn);

        let mut plan = Plan::default();
        let mut seen: HashSet<&str> = HashSet::new();
        // (index into `files`, known hash, change)
        let mut needs: Vec<(usize, Option<ContentHash>, Change)> = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if !seen.insert(f.path.as_str()) {
                continue;
            }
            match existing.get(&f.path) {
                Some(e) if e.size == f.size && e.mtime_ns == f.mtime_ns => {
                    if e.modality == f.modality {
                        plan.unchanged += 1;
                    } else {
                        needs.push((i, Some(e.hash), Change::ModalityChanged));
                    }
                }
                Some(_) => needs.push((i, None, Change::Modified)),
                None => needs.push((i, None, Change::New)),
            }
        }

        // Hash what must be hashed, in parallel.
        let default_hasher = |s: &FileStat| hash_file(&path_text::decode(&s.path));
        let hasher: Hasher = opts.hasher.unwrap_or(&default_hasher);
        let count = AtomicUsize::new(0);
        let hashes: Vec<io::Result<ContentHash>> = needs
            .par_iter()
            .map(|(i, known, _)| match known {
                Some(h) => Ok(*h),
                None => {
                    count.fetch_add(1, Ordering::Relaxed);
                    hasher(&files[*i])
                }
            })
            .collect();
        plan.hashed = count.into_inner();

        let mut planned_embed: HashMap<(ContentHash, String), String> = HashMap::new();
        for ((i, _, change), h) in needs.into_iter().zip(hashes) {
            let f = &files[i];
            let hash = match h {
                Ok(h) => h,
                Err(e) => {
                    plan.failed.push((f.path.clone(), e.to_string()));
                    continue;
                }
            };
            let mut change = change;
            if let Some(e) = existing.get(&f.path) {
                if e.hash == hash && e.modality == f.modality {
                    plan.touch.push(PlannedFile {
                        stat: f.clone(),
                        hash,
                        change: Change::Touched,
                        same_content_as: None,
                    });
                    continue;
                }
                if e.hash == hash {
                    change = Change::ModalityChanged;
                }
            }
            let key = (hash, f.modality.clone());
            if stored.contains(&key) {
                plan.reuse.push(PlannedFile {
                    stat: f.clone(),
                    hash,
                    change,
                    same_content_as: source_of.get(&key).cloned(),
                });
            } else if let Some(src) = planned_embed.get(&key) {
                plan.reuse.push(PlannedFile {
                    stat: f.clone(),
                    hash,
                    change,
                    same_content_as: Some(src.clone()),
                });
            } else {
                planned_embed.insert(key, f.path.clone());
                plan.embed.push(PlannedFile {
                    stat: f.clone(),
                    hash,
                    change,
                    same_content_as: None,
                });
            }
        }

        let failed: HashSet<&str> = plan.failed.iter().map(|(p, _)| p.as_str()).collect();
        let listed: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let mut remove: Vec<String> = existing
            .keys()
            .filter(|p| !listed.contains(p.as_str()) && !failed.contains(p.as_str()))
            .filter(|p| match opts.scope {
                Some(roots) => roots.iter().any(|r| is_under(p, r)),
                None => true,
            })
            .filter(|p| !opts.keep.iter().any(|k| is_under(p, k)))
            .cloned()
            .collect();
        remove.sort();
        plan.remove = remove;
        Ok(plan)
    }

    /// Store freshly embedded vectors for planned files, in one transaction. Call as often as
    /// you like (e.g. once per embedding batch): what is committed survives a crash or Ctrl-C.
    pub fn commit_batch(&mut self, batch: &[(&PlannedFile, &[f32])]) -> Result<()> {
        let r = self.commit_batch_inner(batch);
        self.index.ctx(r)
    }

    fn commit_batch_inner(&mut self, batch: &[(&PlannedFile, &[f32])]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.validate(batch.iter().map(|(p, v)| (p.stat.path.as_str(), *v)))?;
        let mut conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (p, v) in batch {
            store_embedded(&tx, p, v)?;
        }
        store::bump_generation(&tx)?;
        tx.commit()?;
        drop(conn);
        for (p, _) in batch {
            if self.committed.insert(p.stat.path.clone()) {
                self.embedded += 1;
            }
        }
        Ok(())
    }

    fn validate<'v>(&self, items: impl Iterator<Item = (&'v str, &'v [f32])>) -> Result<()> {
        let dim = self.index.meta.dim;
        for (path, v) in items {
            if v.len() != dim {
                return Err(Error::InvalidVector {
                    path: path.to_string(),
                    reason: format!(
                        "{} values, the index holds {dim}-dimensional vectors",
                        v.len()
                    ),
                });
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::InvalidVector {
                    path: path.to_string(),
                    reason: "contains NaN or infinity".into(),
                });
            }
        }
        Ok(())
    }

    /// Apply the rest of `plan` in one transaction (reused vectors, metadata updates,
    /// removals; unreferenced vectors are collected), then rebuild the derived search files.
    pub fn finish(mut self, plan: &Plan) -> Result<CommitStats> {
        let r = self.finish_inner(plan);
        self.index.ctx(r)
    }

    fn finish_inner(&mut self, plan: &Plan) -> Result<CommitStats> {
        let mut stats = {
            let mut conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let s = apply_rest(&tx, plan)?;
            tx.commit()?;
            s
        };
        self.complete(plan, &mut stats)?;
        Ok(stats)
    }

    /// Everything in one transaction: `embedded` holds (path, vector) for entries of
    /// `plan.embed` (paths not in `plan.embed` are an error).
    pub fn commit(mut self, plan: &Plan, embedded: &[(String, Vec<f32>)]) -> Result<CommitStats> {
        let r = self.commit_inner(plan, embedded);
        self.index.ctx(r)
    }

    fn commit_inner(
        &mut self,
        plan: &Plan,
        embedded: &[(String, Vec<f32>)],
    ) -> Result<CommitStats> {
        let by_path: HashMap<&str, &PlannedFile> = plan
            .embed
            .iter()
            .map(|p| (p.stat.path.as_str(), p))
            .collect();
        let mut items = Vec::with_capacity(embedded.len());
        for (path, v) in embedded {
            let p = by_path.get(path.as_str()).ok_or_else(|| {
                let path = path_text::display(path);
                Error::Usage(format!("{path} is not in the plan's embed list"))
            })?;
            items.push((*p, v.as_slice()));
        }
        self.validate(items.iter().map(|(p, v)| (p.stat.path.as_str(), *v)))?;
        let mut stats = {
            let mut conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (p, v) in &items {
                store_embedded(&tx, p, v)?;
            }
            let s = apply_rest(&tx, plan)?;
            tx.commit()?;
            s
        };
        for (p, _) in &items {
            if self.committed.insert(p.stat.path.clone()) {
                self.embedded += 1;
            }
        }
        self.complete(plan, &mut stats)?;
        Ok(stats)
    }

    fn complete(&mut self, plan: &Plan, stats: &mut CommitStats) -> Result<()> {
        stats.embedded = self.embedded;
        stats.not_embedded = plan
            .embed
            .iter()
            .filter(|p| !self.committed.contains(&p.stat.path))
            .count();
        stats.rebuild = self.index.rebuild_derived_locked(true)?;
        let conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
        stats.files = store::file_count(&conn)?;
        stats.generation = store::generation(&conn)?;
        Ok(())
    }

    /// Remove paths from the index (one transaction). Returns how many were indexed.
    pub fn remove_paths(&mut self, paths: &[String]) -> Result<usize> {
        let r = self.remove_paths_inner(paths);
        self.index.ctx(r)
    }

    fn remove_paths_inner(&mut self, paths: &[String]) -> Result<usize> {
        let mut conn = self.index.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        {
            let mut del = tx.prepare_cached("DELETE FROM files WHERE path = ?1")?;
            for p in paths {
                n += del.execute([SqlPath(p)])?;
            }
        }
        if n > 0 {
            store::bump_generation(&tx)?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Rebuild the derived files now (`finish`/`commit` do this already). Files whose stored
    /// vector does not verify are dropped from the index (`RebuildReport::dropped`).
    pub fn rebuild_derived(&mut self) -> Result<RebuildReport> {
        self.index.rebuild_derived_locked(true)
    }
}

fn upsert_file(tx: &Transaction, s: &FileStat, hash: &ContentHash, vector_id: i64) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO files(path, modality, size, mtime_ns, hash, vector_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(path) DO UPDATE SET modality = excluded.modality, size = excluded.size,
           mtime_ns = excluded.mtime_ns, hash = excluded.hash, vector_id = excluded.vector_id",
    )?;
    st.execute(params![
        SqlPath(&s.path),
        s.modality,
        s.size as i64,
        s.mtime_ns,
        &hash.0[..],
        vector_id
    ])?;
    Ok(())
}

fn vector_id(tx: &Transaction, hash: &ContentHash, modality: &str) -> Result<Option<i64>> {
    let mut st = tx.prepare_cached("SELECT id FROM vectors WHERE hash = ?1 AND modality = ?2")?;
    Ok(st
        .query_row(params![&hash.0[..], modality], |r| r.get(0))
        .optional()?)
}

fn store_embedded(tx: &Transaction, p: &PlannedFile, v: &[f32]) -> Result<()> {
    {
        let mut ins = tx.prepare_cached("INSERT INTO vectors(hash, modality, data, checksum) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(hash, modality) DO NOTHING")?;
        let data = store::vec_to_blob(v);
        let sum = store::vector_sum(&p.hash.0, p.stat.modality.as_bytes(), &data);
        ins.execute(params![&p.hash.0[..], p.stat.modality, data, sum])?;
    }
    let vid = vector_id(tx, &p.hash, &p.stat.modality)?
        .ok_or_else(|| Error::Usage("vector vanished during insert".into()))?;
    upsert_file(tx, &p.stat, &p.hash, vid)
}

fn apply_rest(tx: &Transaction, plan: &Plan) -> Result<CommitStats> {
    let mut s = CommitStats::default();
    {
        let mut touch = tx.prepare_cached("UPDATE files SET size = ?1, mtime_ns = ?2 WHERE path = ?3 AND hash = ?4 AND modality = ?5")?;
        for p in &plan.touch {
            s.touched += touch.execute(params![
                p.stat.size as i64,
                p.stat.mtime_ns,
                SqlPath(&p.stat.path),
                &p.hash.0[..],
                p.stat.modality
            ])?;
        }
    }
    for p in &plan.reuse {
        match vector_id(tx, &p.hash, &p.stat.modality)? {
            Some(vid) => {
                upsert_file(tx, &p.stat, &p.hash, vid)?;
                s.reused += 1;
            }
            None => s.unresolved.push(p.stat.path.clone()),
        }
    }
    {
        let mut del = tx.prepare_cached("DELETE FROM files WHERE path = ?1")?;
        for path in &plan.remove {
            s.removed += del.execute([SqlPath(path)])?;
        }
    }
    s.vectors_collected = tx.execute("DELETE FROM vectors WHERE NOT EXISTS (SELECT 1 FROM files WHERE files.vector_id = vectors.id)", [])?;
    // The generation stamps what the derived files are made of (which files, their paths,
    // modalities and vectors): metadata-only updates and garbage collection leave it alone,
    // so a no-op re-index rebuilds nothing.
    if s.reused + s.removed > 0 {
        store::bump_generation(tx)?;
    }
    Ok(s)
}
