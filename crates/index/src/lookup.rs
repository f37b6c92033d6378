//! Reading stored files back from the database: one file's record, every path.

use super::*;

impl Index {
    /// Look up one stored file (metadata and vector). A stored vector that does not verify is
    /// an [`Error::Corrupt`] naming the file.
    pub fn get(&self, path: &str) -> Result<Option<FileRecord>> {
        let r = self.get_inner(path);
        self.ctx(r)
    }

    fn get_inner(&self, path: &str) -> Result<Option<FileRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let sql = format!(
            "SELECT f.path, f.modality, f.size, f.mtime_ns, f.hash, {} FROM files f LEFT JOIN vectors v ON v.id = f.vector_id WHERE f.path = ?1",
            self.meta.vector_cols()
        );
        let mut st = conn.prepare_cached(&sql)?;
        let mut rows = st.query([SqlPath(path)])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let hash = r.get_ref(4)?.as_blob()?;
        let hash = ContentHash(hash.try_into().map_err(|_| {
            Error::corrupt_here(format!(
                "the content hash of {} is not 32 bytes",
                path_text::display(path)
            ))
        })?);
        let vector = match store::check_vector(r, 5, self.meta.dim)? {
            Ok(data) => store::blob_to_vec(data),
            Err(why) => {
                return Err(Error::corrupt_here(format!(
                    "the stored vector of {} is damaged: {why}",
                    path_text::display(path)
                )));
            }
        };
        Ok(Some(FileRecord {
            path: r.get::<_, PathText>(0)?.0,
            modality: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            hash,
            vector,
        }))
    }

    /// Every indexed path with its modality, in insertion order.
    pub fn paths(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let r = (|| {
            let mut st = conn.prepare("SELECT path, modality FROM files ORDER BY id")?;
            let v = st
                .query_map([], |r| Ok((r.get::<_, PathText>(0)?.0, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })();
        self.ctx(r)
    }
}
