//! Planning an update: what the index holds, which files must be hashed, and what each
//! listed file needs (embedding, a reused vector, a metadata update) or which indexed paths
//! go.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use rusqlite::Connection;

use super::{
    Change, ContentHash, FileStat, Hasher, Plan, PlanOptions, PlannedFile, Writer, hash_file,
};
use crate::error::{Error, Result};
use crate::path_text::{self, PathText};
use crate::store;

fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path == prefix || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
}

/// An indexed file as the database has it.
struct Existing {
    modality: String,
    size: u64,
    mtime_ns: i64,
    hash: ContentHash,
}

/// What the index holds, read in one transaction before planning.
struct Known {
    /// Every indexed file by path.
    existing: HashMap<String, Existing>,
    /// The first indexed path of each (content, modality).
    source_of: HashMap<(ContentHash, String), String>,
    /// The (content, modality) of every stored vector.
    stored: HashSet<(ContentHash, String)>,
}

/// A listed file that must be looked at: its index in the file list, its hash when known
/// without hashing, and why.
type Need = (usize, Option<ContentHash>, Change);

impl Known {
    fn read(conn: &Connection) -> Result<Known> {
        let tx = conn.unchecked_transaction()?;
        let mut k = Known {
            existing: HashMap::new(),
            source_of: HashMap::new(),
            stored: HashSet::new(),
        };
        k.read_files(&tx)?;
        k.read_vectors(&tx)?;
        tx.finish()?;
        Ok(k)
    }

    fn read_files(&mut self, tx: &Connection) -> Result<()> {
        let mut st =
            tx.prepare("SELECT id, path, modality, size, mtime_ns, hash, vector_id FROM files")?;
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
            self.source_of
                .entry((hash, e.modality.clone()))
                .or_insert_with(|| path.clone());
            self.existing.insert(path, e);
        }
        Ok(())
    }

    fn read_vectors(&mut self, tx: &Connection) -> Result<()> {
        let mut st = tx.prepare("SELECT hash, modality FROM vectors")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            if let (rusqlite::types::ValueRef::Blob(h), rusqlite::types::ValueRef::Text(m)) =
                (r.get_ref(0)?, r.get_ref(1)?)
                && let (Some(h), Ok(m)) = (ContentHash::from_blob(h), std::str::from_utf8(m))
            {
                self.stored.insert((h, m.to_string()));
            }
        }
        Ok(())
    }

    /// The listed files (first listing of each path) that are new or changed; counts the
    /// unchanged ones in `plan`.
    fn needs(&self, files: &[FileStat], plan: &mut Plan) -> Vec<Need> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut needs = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if !seen.insert(f.path.as_str()) {
                continue;
            }
            match self.existing.get(&f.path) {
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
        needs
    }

    /// Puts each hashed file where it belongs in `plan`: touched, reused, embedded or
    /// failed.
    fn place(
        &self,
        files: &[FileStat],
        needs: Vec<Need>,
        hashes: Vec<io::Result<ContentHash>>,
        plan: &mut Plan,
    ) {
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
            if let Some(e) = self.existing.get(&f.path) {
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
            let file = |same_content_as| PlannedFile {
                stat: f.clone(),
                hash,
                change,
                same_content_as,
            };
            if self.stored.contains(&key) {
                plan.reuse.push(file(self.source_of.get(&key).cloned()));
            } else if let Some(src) = planned_embed.get(&key) {
                plan.reuse.push(file(Some(src.clone())));
            } else {
                planned_embed.insert(key, f.path.clone());
                plan.embed.push(file(None));
            }
        }
    }

    /// The indexed paths to remove: not listed, not failed, within `opts.scope` and not
    /// under `opts.keep`; sorted.
    fn removals(&self, files: &[FileStat], plan: &Plan, opts: &PlanOptions) -> Vec<String> {
        let failed: HashSet<&str> = plan.failed.iter().map(|(p, _)| p.as_str()).collect();
        let listed: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let mut remove: Vec<String> = self
            .existing
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
        remove
    }
}

/// Hashes what must be hashed, in parallel: one result per need, and how many files were
/// hashed.
fn hash_needs(
    files: &[FileStat],
    needs: &[Need],
    opts: &PlanOptions,
) -> (Vec<io::Result<ContentHash>>, usize) {
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
    (hashes, count.into_inner())
}

impl Writer<'_> {
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
        let known = Known::read(&conn)?;
        drop(conn);

        let mut plan = Plan::default();
        let needs = known.needs(files, &mut plan);
        let (hashes, hashed) = hash_needs(files, &needs, opts);
        plan.hashed = hashed;
        known.place(files, needs, hashes, &mut plan);
        plan.remove = known.removals(files, &plan, opts);
        Ok(plan)
    }
}
