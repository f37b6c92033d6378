//! Committing an update: batches of embedded vectors, then the rest of a plan (reused
//! vectors, metadata updates, removals, garbage collection), each one SQLite transaction;
//! then the derived files.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::{CommitStats, ContentHash, FileStat, Plan, PlannedFile, Writer};
use crate::RebuildReport;
use crate::error::{Error, Result};
use crate::path_text::{self, SqlPath};
use crate::store;

impl Writer<'_> {
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
