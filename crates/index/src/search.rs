//! Searching an index: exact (full scan or compressed), approximate (the HNSW graph with its
//! stranded nodes scored exactly) and automatic, and the recall of one against the other.

use super::*;

impl Index {
    /// The graph matching `m`, if one exists (cached, or on disk and verified).
    pub(crate) fn approx_for(&self, m: &Matrix) -> std::result::Result<Arc<Hnsw>, NoGraph> {
        let mut cache = self.hnsw.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = cache.as_ref()
            && h.stamp == m.stamp
            && !m.partial
        {
            return Ok(h.clone());
        }
        if m.partial {
            return Err(NoGraph::Partial);
        }
        let path = self.dir.join(hnsw::HNSW_FILE);
        let key = file_key(&path);
        if let Some((k, d)) = self
            .bad_graph
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && Some(*k) == key
        {
            return Err(NoGraph::Damaged(d.clone()));
        }
        let h = match Hnsw::load(&self.dir, Some(m.stamp), m.dim()) {
            Load::Ok(h) => h,
            Load::Damaged(d) => {
                if let Some(k) = key {
                    *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((k, d.clone()));
                }
                return Err(NoGraph::Damaged(d));
            }
            Load::Missing | Load::Old | Load::Stale => return Err(NoGraph::Absent),
        };
        // Its row table must describe this matrix (it would index rows out of range).
        let rows_ok = h.row_count() == m.len()
            && h.row_table()
                .iter()
                .all(|&(v, r)| (r as usize) < m.len() && m.vector_ids()[r as usize] == v);
        if !rows_ok {
            let d = format!(
                "{}: its row table does not match the search matrix",
                hnsw::HNSW_FILE
            );
            if let Some(k) = key {
                *self.bad_graph.lock().unwrap_or_else(|e| e.into_inner()) = Some((k, d.clone()));
            }
            return Err(NoGraph::Damaged(d));
        }
        let h = Arc::new(h);
        *cache = Some(h.clone());
        Ok(h)
    }

    /// The graph for an explicit approximate search, or the error saying why there is none.
    fn graph_for(&self, m: &Matrix) -> Result<Arc<Hnsw>> {
        self.approx_for(m).map_err(|e| match e {
            NoGraph::Absent => Error::NoApproxIndex {
                dir: self.dir.clone(),
                min: self.approx_min_items,
            },
            NoGraph::Damaged(d) => Error::Corrupt {
                dir: self.dir.clone(),
                detail: format!(
                    "{d} — `mmbind index --check --index {}` rebuilds the graph; exact search (--exact) works meanwhile",
                    self.dir.display()
                ),
            },
            NoGraph::Partial => Error::Corrupt {
                dir: self.dir.clone(),
                detail: format!(
                    "some stored vectors do not verify, so approximate search is off until their files are indexed again (`mmbind index`, or `mmbind index --check --repair --index {}` to drop them); exact search (--exact) leaves them out meanwhile",
                    self.dir.display()
                ),
            },
        })
    }

    fn check_query(&self, q: &[f32]) -> Result<()> {
        if q.len() != self.meta.dim {
            return Err(Error::InvalidQuery(format!(
                "{} values; this index holds {}-dimensional vectors",
                q.len(),
                self.meta.dim
            )));
        }
        if q.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidQuery("contains NaN or infinity".into()));
        }
        Ok(())
    }

    fn row_filter<'m>(m: &'m Matrix, f: &Filter) -> RowFilter<'m> {
        let allowed = if f.modalities.is_empty() {
            None
        } else {
            let mut a = [false; 256];
            for (code, name) in m.modalities().iter().enumerate() {
                a[code] = f.modalities.iter().any(|x| x == name);
            }
            Some(a)
        };
        RowFilter {
            allowed,
            min_score: f.min_score,
            codes: m.codes(),
        }
    }

    fn hits(m: &Matrix, v: Vec<Scored>) -> Vec<Hit> {
        v.into_iter()
            .map(|s| Hit {
                path: m.path(s.row as usize).to_string(),
                modality: m.modality(s.row as usize).to_string(),
                score: s.score,
            })
            .collect()
    }

    /// Exact top-`k` by inner product (best first; ties by insertion order). Any `k` is
    /// safe: it is clamped to the number of indexed files (the caller sets the policy for
    /// absurd values: mmbind's `--limit top-k`).
    pub fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        Ok(Self::hits(
            &m,
            exact::search_one(&m, query, k.min(m.len()), &rf),
        ))
    }

    /// [`Self::search`]'s answer from a compressed scan: rows scored from int8 codes (a
    /// quarter of the bytes), the rows that could reach the top `k` re-scored from the float32
    /// vectors, so the hits and scores are the float32 scan's. The codes are built in memory on
    /// the first call (one float32 read): worth it in processes that answer many queries.
    pub fn search_compressed(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        if !rf.any_allowed() {
            return Ok(Vec::new());
        }
        let qz = m.quantized();
        Ok(Self::hits(
            &m,
            quantized::search_one(&m, qz, query, k.min(m.len()), &rf),
        ))
    }

    /// Exact top-`k` for many queries at once (`queries`: `nq × dim`, row-major) — blocked
    /// matrix multiply, far higher throughput than one `search` per query.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Vec<Hit>>> {
        let dim = self.meta.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::InvalidQuery(format!(
                "{} values is not a multiple of the dimension {dim}",
                queries.len()
            )));
        }
        for q in queries.chunks_exact(dim) {
            self.check_query(q)?;
        }
        let m = self.matrix()?;
        let rf = Self::row_filter(&m, filter);
        Ok(
            exact::search_many(&m, queries, queries.len() / dim, k.min(m.len()), &rf)
                .into_iter()
                .map(|v| Self::hits(&m, v))
                .collect(),
        )
    }

    /// Approximate top-`k` through the HNSW graph (`ef`: candidate list size, default
    /// [`HnswParams::ef_for`] the graph's size; larger = better recall, slower). Scores are exact inner products
    /// of the returned rows. Fails with [`Error::NoApproxIndex`] when no up-to-date graph
    /// exists, with [`Error::Corrupt`] when the graph file does not verify (it is never
    /// handed to usearch then). `k` is clamped to the number of indexed files and `ef` to the
    /// graph's size (an unchecked `k` of `u64::MAX` made usearch abort the process).
    pub fn search_approx(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
        ef: Option<usize>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let m = self.matrix()?;
        let h = self.graph_for(&m)?;
        Ok(Self::hits(&m, approx_rows(&m, &h, query, k, filter, ef)?))
    }

    /// Approximate when the index has at least `approx_min_items` files and an up-to-date
    /// graph, exact otherwise — also when the graph is damaged (reported through
    /// `take_warnings`).
    pub fn search_auto(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<(Vec<Hit>, SearchMethod)> {
        self.check_query(query)?;
        let m = self.matrix()?;
        if m.len() >= self.approx_min_items && !m.is_empty() {
            match self.approx_for(&m) {
                Ok(h) => {
                    let ef = h.params.ef_for(h.len());
                    return Ok((
                        Self::hits(&m, approx_rows(&m, &h, query, k, filter, Some(ef))?),
                        SearchMethod::Approx { ef },
                    ));
                }
                Err(NoGraph::Damaged(d)) => self.warn(format!(
                    "index {}: {d}; searching exactly until `mmbind index --check --index {}` rebuilds the graph",
                    self.dir.display(),
                    self.dir.display()
                )),
                // Partial: the damaged vectors were reported when the matrix was built.
                Err(NoGraph::Absent | NoGraph::Partial) => {}
            }
        }
        let rf = Self::row_filter(&m, filter);
        Ok((
            Self::hits(&m, exact::search_one(&m, query, k.min(m.len()), &rf)),
            SearchMethod::Exact,
        ))
    }
}

fn approx_rows(
    m: &Matrix,
    h: &Hnsw,
    query: &[f32],
    k: usize,
    filter: &Filter,
    ef: Option<usize>,
) -> Result<Vec<Scored>> {
    let k = k.min(m.len());
    if k == 0 {
        return Ok(Vec::new());
    }
    let ef = ef.unwrap_or_else(|| h.params.ef_for(h.len())).max(k);
    let rf = Index::row_filter(m, filter);
    // Every row of a vector has the vector's modality, so its first row decides.
    let allow = |key: u64| h.rows_of(key as i64).next().is_some_and(|r| rf.row_ok(r));
    let found = h.search(
        query,
        k,
        ef,
        if rf.allowed.is_some() {
            Some(&allow)
        } else {
            None
        },
    )?;
    // The graph's answer and its stranded nodes (nodes its search may miss), all scored exactly.
    let mut keys: Vec<i64> = found.into_iter().map(|(key, _)| key as i64).collect();
    keys.extend(
        (h.stranded().iter().copied()).filter(|&v| rf.allowed.is_none() || allow(v as u64)),
    );
    keys.sort_unstable();
    keys.dedup();
    let mut out: Vec<Scored> = keys
        .into_iter()
        .flat_map(|key| h.rows_of(key))
        .map(|r| Scored {
            score: kernels::dot(query, m.row(r as usize)),
            row: r,
        })
        .filter(|s| filter.min_score.is_none_or(|t| s.score >= t))
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    out.truncate(k);
    Ok(out)
}

/// Recall@k of approximate search against exact search, averaged over `queries`
/// (`nq × dim`, row-major): the fraction of the exact top-`k` rows that the approximate top-`k`
/// also returns. Use it to validate `ef` on real embeddings.
pub fn recall_at_k(index: &Index, queries: &[f32], k: usize, ef: Option<usize>) -> Result<f64> {
    let dim = index.dim();
    let m = index.matrix()?;
    let h = index.graph_for(&m)?;
    let nq = queries.len() / dim;
    let k = k.min(m.len());
    if nq == 0 || k == 0 {
        return Ok(1.0);
    }
    let rf = Index::row_filter(&m, &Filter::default());
    let exact = exact::search_many(&m, queries, nq, k, &rf);
    let mut found = 0usize;
    let mut total = 0usize;
    for (i, ex) in exact.iter().enumerate() {
        let ap = approx_rows(
            &m,
            &h,
            &queries[i * dim..(i + 1) * dim],
            k,
            &Filter::default(),
            ef,
        )?;
        let set: std::collections::HashSet<u32> = ap.iter().map(|s| s.row).collect();
        found += ex.iter().filter(|s| set.contains(&s.row)).count();
        total += ex.len();
    }
    Ok(if total == 0 {
        1.0
    } else {
        found as f64 / total as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Rng, normalize};

    /// `/f/0`, `/f/1`, ...: random unit vectors, modality by number.
    fn random_files(
        seed: u64,
        n: usize,
        dim: usize,
        modality: impl Fn(usize) -> &'static str,
    ) -> Vec<(String, String, Vec<f32>)> {
        let mut r = Rng::new(seed);
        (0..n)
            .map(|i| {
                let mut v: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
                normalize(&mut v);
                (format!("/f/{i}"), modality(i).to_string(), v)
            })
            .collect()
    }

    #[test]
    fn stranded_nodes_are_searched_filtered_and_returned_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 16;
        let files = random_files(9, 60, dim, |i| if i % 2 == 0 { "vision" } else { "audio" });
        let mut ix =
            Index::create_or_open(tmp.path(), &ModelInfo::new("b3:00", "tiny", dim)).unwrap();
        crate::synth::index_files(&mut ix, &files).unwrap();

        let m = ix.matrix().unwrap();
        let (mut h, _) = Hnsw::build(tmp.path(), &m, HnswParams::default(), None, false).unwrap();
        // File 4 (vision) is only reachable through the stranded list from now on.
        let row = (0..m.len()).find(|&r| m.path(r) == "/f/4").unwrap();
        h.strand(m.vector_ids()[row]);
        let query = &files[4].2;
        let all = |f: &Filter, k| approx_rows(&m, &h, query, k, f, Some(64)).unwrap();
        let hits = all(&Filter::default(), 5);
        assert_eq!(hits[0].row as usize, row, "found through the stranded list");
        assert!((hits[0].score - 1.0).abs() < 1e-5, "scored exactly");
        let mut rows: Vec<u32> = all(&Filter::default(), 60).iter().map(|s| s.row).collect();
        assert_eq!(rows.len(), 60, "every file, the stranded one included");
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 60, "none twice");
        // Filters apply to it as to graph hits.
        let audio = all(&Filter::default().modality("audio"), 5);
        assert!(audio.iter().all(|s| m.modality(s.row as usize) == "audio"));
        let vision = all(&Filter::default().modality("vision"), 5);
        assert_eq!(vision[0].row as usize, row);
        assert!(all(&Filter::default().min_score(1.5), 5).is_empty());
    }

    #[test]
    fn an_incremental_update_keeps_the_stranded_nodes_it_does_not_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 16;
        let mut files = random_files(11, 66, dim, |_| "vision");
        let new_files = files.split_off(60);
        let mut ix =
            Index::create_or_open(tmp.path(), &ModelInfo::new("b3:00", "tiny", dim)).unwrap();
        crate::synth::index_files(&mut ix, &files).unwrap();
        let m = ix.matrix().unwrap();
        let (mut h, _) = Hnsw::build(tmp.path(), &m, HnswParams::default(), None, false).unwrap();
        let vid =
            |m: &Matrix, p: &str| m.vector_ids()[(0..m.len()).find(|&r| m.path(r) == p).unwrap()];
        let (kept, removed) = (vid(&m, "/f/4"), vid(&m, "/f/6"));
        h.strand(kept);
        h.strand(removed);

        // File 6 goes, six files come: a small change, so the old graph is updated in place.
        files.remove(6);
        files.extend(new_files);
        crate::synth::index_files(&mut ix, &files).unwrap();
        let m2 = ix.matrix().unwrap();
        let (h2, incremental) =
            Hnsw::build(tmp.path(), &m2, HnswParams::default(), Some(&h), false).unwrap();
        assert!(incremental, "a small change updates the old graph");
        assert_eq!(
            h2.stranded(),
            &[kept],
            "the removed node's entry goes, the other stays"
        );
        let hits = approx_rows(&m2, &h2, &files[4].2, 1, &Filter::default(), Some(64)).unwrap();
        assert_eq!(
            m2.path(hits[0].row as usize),
            "/f/4",
            "still found after the update"
        );
    }
}
