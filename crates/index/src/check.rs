//! The integrity check of a whole index and its repair.

use super::*;

impl Index {
    /// Full integrity check; writes nothing. SQLite's own check, every files row, every
    /// stored vector against its checksum (and length, finiteness), the search matrix (every
    /// block, then row by row against the database when it is current) and the HNSW graph
    /// (every block, its rows against the matrix). Damage is reported in the result
    /// ([`CheckReport::is_clean`]); an error means the check itself could not run.
    pub fn check(&self) -> Result<CheckReport> {
        let r = self.check_inner();
        self.ctx(r)
    }

    fn check_inner(&self) -> Result<CheckReport> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // One read transaction: everything below sees one state of the database.
        let tx = conn.unchecked_transaction()?;
        let sqlite = sqlite_problems(&tx)?;
        let bad_files: Vec<String> = store::bad_file_rows(&tx)?
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        let scan = store::scan_vectors(&tx, &self.meta)?;
        let mut damaged_vectors = Vec::new();
        for (id, reason) in &scan.damaged {
            damaged_vectors.push(DamagedVector {
                id: *id,
                reason: reason.clone(),
                paths: store::paths_of_vector(&tx, *id)?,
            });
        }
        let orphans: i64 = tx.query_row("SELECT count(*) FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.vector_id = v.id)", [], |r| r.get(0))?;
        let files = store::file_count(&tx)?;
        let generation = store::generation(&tx)?;
        let stamp = Stamp {
            uid: self.meta.uid,
            generation,
        };
        let (matrix_state, fresh_matrix) = self.check_matrix(&tx, stamp, files)?;
        tx.finish()?;
        drop(conn);
        let approx = self.check_graph(stamp, fresh_matrix.as_ref());
        Ok(CheckReport {
            files,
            vectors: scan.vectors,
            orphan_vectors: orphans as usize,
            generation,
            sqlite,
            bad_files,
            damaged_vectors,
            unverified_vectors: scan.unverified,
            matrix: matrix_state,
            approx,
        })
    }

    /// The state of the matrix file, and the matrix itself when it is current and matches
    /// the database row by row.
    fn check_matrix(
        &self,
        tx: &Connection,
        stamp: Stamp,
        files: usize,
    ) -> Result<(FileState, Option<Matrix>)> {
        let mut fresh_matrix = None;
        let mut matrix_state = match Matrix::load(&self.dir) {
            Load::Ok(m) if m.stamp.uid != self.meta.uid || m.dim != self.meta.dim => {
                FileState::Damaged(format!(
                    "{}: it belongs to another index",
                    matrix::MATRIX_FILE
                ))
            }
            Load::Ok(m) if m.stamp == stamp => {
                fresh_matrix = Some(m);
                FileState::Fresh
            }
            Load::Ok(_) | Load::Stale => FileState::Stale,
            Load::Old => FileState::OldFormat,
            Load::Missing => FileState::Missing,
            Load::Damaged(d) => FileState::Damaged(d),
        };
        if let Some(m) = &fresh_matrix
            && let Some(d) = compare_matrix(tx, &self.meta, m, files)?
        {
            matrix_state = FileState::Damaged(d);
            fresh_matrix = None;
        }
        Ok((matrix_state, fresh_matrix))
    }

    /// The state of the graph file (`fresh_matrix`: the current matrix, when it checked
    /// out, for the graph's row table to match).
    fn check_graph(&self, stamp: Stamp, fresh_matrix: Option<&Matrix>) -> FileState {
        match Hnsw::peek(&self.dir) {
            Load::Missing => FileState::Missing,
            Load::Old => FileState::OldFormat,
            Load::Damaged(d) => FileState::Damaged(d),
            Load::Ok(s) if s != stamp => FileState::Stale,
            Load::Ok(_) | Load::Stale => match Hnsw::load(&self.dir, Some(stamp), self.meta.dim) {
                Load::Ok(h) => graph_state(&h, fresh_matrix),
                Load::Damaged(d) => FileState::Damaged(d),
                Load::Old => FileState::OldFormat,
                Load::Missing => FileState::Missing,
                Load::Stale => FileState::Stale,
            },
        }
    }

    /// Repairs what can be repaired, under the writer lock (waiting up to `wait`): rebuilds
    /// SQLite's indexes when its integrity check fails (`REINDEX`), rebuilds the search matrix
    /// and the HNSW graph (when one exists or is due) unless they verify and are current, and
    /// computes missing vector checksums. With `drop_damaged`, also deletes unreadable files
    /// rows and the files whose stored vector does not verify (listed in
    /// `rebuild.dropped`), so that indexing their directories again embeds them anew.
    pub fn repair(&mut self, wait: Option<Duration>, drop_damaged: bool) -> Result<RepairReport> {
        if !self.writable {
            return Err(Error::Usage(format!(
                "index {} is opened read-only",
                self.dir.display()
            )));
        }
        let guard = lock::lock(&self.dir, wait)?;
        let r = self.repair_inner(drop_damaged);
        drop(guard);
        self.ctx(r)
    }

    fn repair_inner(&mut self, drop_damaged: bool) -> Result<RepairReport> {
        fsutil::remove_stale_temps(&self.dir);
        let mut rep = RepairReport::default();
        {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let ok = |c: &Connection| -> Result<Vec<String>> {
                let mut st = c.prepare("PRAGMA integrity_check(100)")?;
                let v = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v.into_iter().filter(|l| l != "ok").collect())
            };
            if !ok(&conn)?.is_empty() {
                // Damaged indexes (the b-trees beside the tables) are rebuilt from the tables.
                conn.execute_batch("REINDEX")?;
                rep.reindexed = true;
                rep.sqlite = ok(&conn)?;
            }
            let tx = conn.unchecked_transaction()?;
            if drop_damaged {
                let bad = store::bad_file_rows(&tx)?;
                let ids: Vec<i64> = bad.iter().map(|b| b.0).collect();
                store::drop_file_rows(&tx, &ids)?;
                rep.dropped_rows = bad.into_iter().map(|b| b.1).collect();
            }
            if self.meta.checksums {
                rep.checksums_filled = store::fill_checksums(&tx)?;
            }
            tx.commit()?;
        }
        // Derived files: forget what is cached so that they are verified from disk again.
        self.refresh();
        let graph_exists = self.dir.join(hnsw::HNSW_FILE).exists();
        let saved = self.approx_min_items;
        if graph_exists {
            self.approx_min_items = 0;
        }
        let r = self.rebuild_inner(drop_damaged);
        self.approx_min_items = saved;
        rep.rebuild = r?;
        Ok(rep)
    }
}

/// The lines of SQLite's own integrity check that are not "ok".
fn sqlite_problems(tx: &Connection) -> Result<Vec<String>> {
    let mut sqlite = Vec::new();
    let mut st = tx.prepare("PRAGMA integrity_check(100)")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let line = match r.get_ref(0)? {
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => "unreadable result".into(),
        };
        if line != "ok" {
            sqlite.push(line);
        }
    }
    Ok(sqlite)
}

/// A graph that loaded (so verified): one node per distinct vector, and a row table that
/// matches `fresh_matrix` when there is one.
fn graph_state(h: &Hnsw, fresh_matrix: Option<&Matrix>) -> FileState {
    let distinct = h
        .row_table()
        .iter()
        .map(|e| e.0)
        .collect::<HashSet<_>>()
        .len();
    if h.len() != distinct {
        FileState::Damaged(format!(
            "{}: it has {} nodes for {distinct} distinct vectors",
            hnsw::HNSW_FILE,
            h.len()
        ))
    } else if let Some(m) = fresh_matrix
        && (h.row_count() != m.len()
            || h.row_table()
                .iter()
                .any(|&(v, r)| (r as usize) >= m.len() || m.vector_ids()[r as usize] != v))
    {
        FileState::Damaged(format!(
            "{}: its row table does not match the search matrix",
            hnsw::HNSW_FILE
        ))
    } else {
        FileState::Fresh
    }
}

/// Compares a current matrix with the database row by row: `Some(what differs)`.
fn compare_matrix(
    conn: &Connection,
    meta: &Meta,
    m: &Matrix,
    files: usize,
) -> Result<Option<String>> {
    if m.len() != files {
        return Ok(Some(format!(
            "{}: it has {} rows, the database {files} files",
            matrix::MATRIX_FILE,
            m.len()
        )));
    }
    let sql = format!(
        "SELECT f.id, f.path, f.modality, f.vector_id, {} FROM files f LEFT JOIN vectors v ON v.id = f.vector_id ORDER BY f.id",
        meta.vector_cols()
    );
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query([])?;
    let mut i = 0usize;
    while let Some(r) = rows.next()? {
        let text = |c: usize| match r.get_ref(c) {
            Ok(rusqlite::types::ValueRef::Text(t)) => std::str::from_utf8(t).ok(),
            _ => None,
        };
        let path = r.get::<_, PathText>(1).ok();
        let (path, modality) = (path.as_ref().map(|p| p.0.as_str()), text(2));
        let same_vector = match store::check_vector(r, 4, meta.dim)? {
            Ok(data) => as_f32_bytes(m.row(i)) == data,
            // Damaged in the database: reported there; the matrix cannot be compared.
            Err(_) => true,
        };
        if i >= m.len()
            || r.get::<_, i64>(0).ok() != Some(m.file_ids()[i])
            || r.get::<_, i64>(3).ok() != Some(m.vector_ids()[i])
            || path != Some(m.path(i))
            || modality != Some(m.modality(i))
            || !same_vector
        {
            return Ok(Some(format!(
                "{}: row {i} does not match file {}",
                matrix::MATRIX_FILE,
                path.map_or("(unreadable path)".into(), path_text::display)
            )));
        }
        i += 1;
    }
    Ok(None)
}

fn as_f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding; viewing its bytes is always valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}
