//! The derived search files of an index (the matrix and the HNSW graph): loading them,
//! rebuilding them when stale or damaged, and reporting the stored vectors left out.

use super::*;

/// At most this many lines about damaged vectors per event (then a count).
const MAX_LINES: usize = 20;

impl Index {
    fn current_stamp(&self) -> Result<Stamp> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Stamp {
            uid: self.meta.uid,
            generation: store::generation(&conn)?,
        })
    }

    /// The verified on-disk matrix of this index (any stamp), if any; damage is reported.
    fn load_matrix(&self) -> Option<Matrix> {
        match Matrix::load(&self.dir) {
            Load::Ok(m) if m.stamp.uid == self.meta.uid && m.dim == self.meta.dim => Some(m),
            Load::Ok(_) => {
                self.warn(format!(
                    "index {}: {} belongs to another index; rebuilding it from the database",
                    self.dir.display(),
                    matrix::MATRIX_FILE
                ));
                None
            }
            Load::Damaged(d) => {
                self.warn(format!(
                    "index {}: {d}; rebuilding it from the database",
                    self.dir.display()
                ));
                None
            }
            Load::Missing | Load::Old | Load::Stale => None,
        }
    }

    /// Warns about stored vectors a build left out (`dropped`: and removed from the index).
    fn report_vectors(&self, conn: &Connection, damaged: &[(i64, String)], dropped: bool) {
        let mut lines = 0usize;
        let mut more = 0usize;
        for (vid, why) in damaged {
            let paths = store::paths_of_vector(conn, *vid).unwrap_or_default();
            for p in paths {
                if lines == MAX_LINES {
                    more += 1;
                    continue;
                }
                lines += 1;
                self.warn(format!(
                    "index {}: the stored vector of {p} is damaged ({why}); {}",
                    self.dir.display(),
                    if dropped {
                        "dropped from the index: index the file again"
                    } else {
                        "left out of search until the file is indexed again (`mmbind index`)"
                    }
                ));
            }
        }
        if more > 0 {
            self.warn(format!(
                "index {}: and {more} more files with damaged stored vectors (`mmbind index --check --index {}` lists them)",
                self.dir.display(),
                self.dir.display()
            ));
        }
    }

    /// The search matrix for the current database state.
    ///
    /// Fresh cached or on-disk matrix (verified block by block when loaded): used as is.
    /// Stale (an update was interrupted, or another process updated the index), of an older
    /// format, or damaged: rebuilt and saved if the writer lock is free and the directory
    /// writable; while another process holds the lock, the last complete state (the stale
    /// file) is used; otherwise it is built in memory. Stored vectors that do not verify are
    /// left out (and the result is not saved); both are reported through `take_warnings`.
    pub fn matrix(&self) -> Result<Arc<Matrix>> {
        let r = self.matrix_inner();
        self.ctx(r)
    }

    fn matrix_inner(&self) -> Result<Arc<Matrix>> {
        let stamp = self.current_stamp()?;
        let mut cache = self.matrix.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.as_ref()
            && m.stamp == stamp
        {
            return Ok(m.clone());
        }
        let on_disk = self.load_matrix();
        if let Some(m) = on_disk.as_ref()
            && m.stamp == stamp
        {
            let m = Arc::new(on_disk.unwrap());
            *cache = Some(m.clone());
            return Ok(m);
        }
        let old: Option<Arc<Matrix>> = cache.clone().or(on_disk.map(Arc::new));
        let build = |old: Option<&Matrix>, to_disk: bool| {
            let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let b = matrix::build(&conn, &self.dir, &self.meta, old, to_disk)?;
            self.report_vectors(&conn, &b.damaged, false);
            Ok::<_, Error>(b.matrix)
        };
        let built = if self.writable {
            match lock::try_lock(&self.dir) {
                Ok(lock::TryLock::Locked(_g)) => {
                    fsutil::remove_stale_temps(&self.dir);
                    build(old.as_deref(), true)?
                }
                Ok(lock::TryLock::Busy(_)) => {
                    if let Some(o) = old {
                        // A writer is at work: serve the last complete state.
                        return Ok(o);
                    }
                    build(None, false)?
                }
                Err(_) => build(old.as_deref(), false)?,
            }
        } else {
            build(old.as_deref(), false)?
        };
        let m = Arc::new(built);
        *cache = Some(m.clone());
        Ok(m)
    }

    /// Rebuild the matrix (and, by policy, the graph) for the current state. Caller holds the
    /// writer lock. With `drop_damaged`, files whose stored vector does not verify are
    /// removed from the index (listed in `RebuildReport::dropped`) so that the saved matrix
    /// is complete; without, the matrix leaves them out and is not saved.
    pub(crate) fn rebuild_derived_locked(&mut self, drop_damaged: bool) -> Result<RebuildReport> {
        let r = self.rebuild_inner(drop_damaged);
        self.ctx(r)
    }

    /// `rebuild_derived_locked` without the index's name on errors (`repair` adds it).
    pub(crate) fn rebuild_inner(&mut self, drop_damaged: bool) -> Result<RebuildReport> {
        let mut rep = RebuildReport::default();
        let t = Instant::now();
        let m = self.matrix_for_rebuild(drop_damaged, &mut rep)?;
        rep.matrix_ms = t.elapsed().as_millis() as u64;
        *self.matrix.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());

        let t = Instant::now();
        self.rebuild_graph(&m, &mut rep)?;
        rep.approx_ms = t.elapsed().as_millis() as u64;
        Ok(rep)
    }

    /// The matrix for the current state: the cached one when it is current and saved, else
    /// the file when it is current, else one built anew (`rebuild_matrix`).
    fn matrix_for_rebuild(
        &self,
        drop_damaged: bool,
        rep: &mut RebuildReport,
    ) -> Result<Arc<Matrix>> {
        let stamp = self.current_stamp()?;
        let cached = self
            .matrix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(match cached.filter(|m| m.stamp == stamp && m.on_disk) {
            Some(m) => m,
            None => match self.load_matrix() {
                Some(m) if m.stamp == stamp => Arc::new(m),
                other => self.rebuild_matrix(other, drop_damaged, rep)?,
            },
        })
    }

    /// Builds the matrix (saved unless a stored vector is damaged), reusing the rows of the
    /// cached matrix (unless partial) or else of `on_disk`. Files whose stored vector does not
    /// verify: with `drop_damaged`, dropped (`drop_vectors_of`) and the matrix built again;
    /// without, left out of a matrix that stays in memory.
    fn rebuild_matrix(
        &self,
        on_disk: Option<Matrix>,
        drop_damaged: bool,
        rep: &mut RebuildReport,
    ) -> Result<Arc<Matrix>> {
        let old = self
            .matrix
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|m| !m.partial)
            .or(on_disk.map(Arc::new));
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?;
        if !b.damaged.is_empty() && drop_damaged {
            rep.dropped = self.drop_vectors_of(&conn, &b.damaged)?;
            b = matrix::build(&conn, &self.dir, &self.meta, old.as_deref(), true)?;
            if !b.damaged.is_empty() {
                return Err(Error::corrupt_here(
                    "stored vectors are still damaged after dropping the damaged ones",
                ));
            }
        } else {
            self.report_vectors(&conn, &b.damaged, false);
        }
        // Rebuilt and saved (a matrix without damaged vectors stays in memory).
        rep.matrix_rebuilt = b.matrix.on_disk;
        Ok(Arc::new(b.matrix))
    }

    /// Reports, then deletes, the files of the `damaged` vectors and those vectors (one
    /// transaction): the dropped paths, each with what was wrong.
    fn drop_vectors_of(
        &self,
        conn: &Connection,
        damaged: &[(i64, String)],
    ) -> Result<Vec<(String, String)>> {
        self.report_vectors(conn, damaged, true);
        let ids: Vec<i64> = damaged.iter().map(|d| d.0).collect();
        let mut paths = Vec::new();
        for (vid, why) in damaged {
            for p in store::paths_of_vector(conn, *vid)? {
                paths.push((p, why.clone()));
            }
        }
        let tx = conn.unchecked_transaction()?;
        store::drop_vectors(&tx, &ids)?;
        tx.commit()?;
        Ok(paths)
    }

    /// The graph for `m` by policy: built (or updated) when `m` is large enough and complete
    /// and the graph on disk is not current with this process's parameters; deleted when `m`
    /// is complete but too small.
    fn rebuild_graph(&self, m: &Arc<Matrix>, rep: &mut RebuildReport) -> Result<()> {
        let want = m.len() >= self.approx_min_items && !m.is_empty() && !m.partial;
        if want {
            let fresh = self.approx_for(m).ok().filter(|h| {
                h.params.m == self.hnsw_params.m
                    && h.params.ef_construction == self.hnsw_params.ef_construction
            });
            if fresh.is_none() {
                let old = self
                    .hnsw
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .or_else(|| hnsw_any(&self.dir, &self.meta).map(Arc::new));
                let (h, incremental) =
                    Hnsw::build(&self.dir, m, self.hnsw_params, old.as_deref(), true)?;
                rep.approx_built = Some(incremental);
                *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(h));
                *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        } else if !m.partial && self.dir.join(hnsw::HNSW_FILE).exists() {
            let _ = std::fs::remove_file(self.dir.join(hnsw::HNSW_FILE));
            *self.hnsw.lock().unwrap_or_else(|e| e.into_inner()) = None;
            rep.approx_removed = true;
        }
        Ok(())
    }

    /// Build (or update) the HNSW graph now, whatever the index size. Takes the writer lock.
    pub fn build_approx(&mut self, wait: Option<Duration>) -> Result<RebuildReport> {
        let saved = std::mem::replace(&mut self.approx_min_items, 0);
        let r = match self.writer(wait) {
            Ok(mut w) => w.rebuild_derived(),
            Err(e) => Err(e),
        };
        self.approx_min_items = saved;
        r
    }

    /// State of the approximate graph relative to the current database (from its footer;
    /// a graph of an older format or with a damaged footer reads as stale).
    pub fn approx_state(&self) -> Result<ApproxState> {
        let stamp = self.ctx(self.current_stamp())?;
        Ok(match Hnsw::peek(&self.dir) {
            Load::Missing => ApproxState::Absent,
            Load::Ok(s) if s == stamp => ApproxState::Fresh,
            _ => ApproxState::Stale,
        })
    }
}

fn hnsw_any(dir: &Path, meta: &Meta) -> Option<Hnsw> {
    // Any intact graph of this index (any generation), as the base of an incremental update.
    let s = Hnsw::peek(dir).ok()?;
    if s.uid != meta.uid {
        return None;
    }
    Hnsw::load(dir, Some(s), meta.dim).ok()
}
