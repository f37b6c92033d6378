//! Reading stored files back from the database: one file's record, every record, every path.

use super::*;

impl Index {
    /// Look up one stored file (metadata and vector). A stored vector that does not verify is
    /// an [`Error::Corrupt`] naming the file.
    pub fn get(&self, path: &str) -> Result<Option<FileRecord>> {
        let r = self.get_where("f.path = ?1", SqlPath(path));
        self.ctx(r)
    }

    /// Look up one stored file by its row id ([`FileRecord::id`]). Ids of removed files are
    /// not found, but SQLite may give a later file the id of the last one removed: a caller
    /// that keeps ids across updates checks the path too.
    pub fn get_by_id(&self, id: i64) -> Result<Option<FileRecord>> {
        let r = self.get_where("f.id = ?1", id);
        self.ctx(r)
    }

    fn get_where(&self, condition: &str, key: impl rusqlite::ToSql) -> Result<Option<FileRecord>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let sql = format!(
            "SELECT f.path, f.modality, f.size, f.mtime_ns, f.hash, {}, f.id FROM files f LEFT JOIN vectors v ON v.id = f.vector_id WHERE {condition}",
            self.meta.vector_cols()
        );
        let mut st = conn.prepare_cached(&sql)?;
        let mut rows = st.query([key])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        self.record_of(r).map(Some)
    }

    /// Every stored file with its vector, in insertion order, handed to `f` one at a time
    /// (memory stays flat whatever the index's size); stops at `f`'s first error. A stored
    /// vector that does not verify is an [`Error::Corrupt`] naming the file.
    pub fn for_each_record<E: From<Error>>(
        &self,
        mut f: impl FnMut(FileRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let sql = format!(
            "SELECT f.path, f.modality, f.size, f.mtime_ns, f.hash, {}, f.id FROM files f LEFT JOIN vectors v ON v.id = f.vector_id ORDER BY f.id",
            self.meta.vector_cols()
        );
        let mut st = conn.prepare(&sql).map_err(|e| self.ctx_err(e.into()))?;
        let mut rows = st.query([]).map_err(|e| self.ctx_err(e.into()))?;
        while let Some(r) = rows.next().map_err(|e| self.ctx_err(e.into()))? {
            f(self.record_of(r).map_err(|e| self.ctx_err(e))?)?;
        }
        Ok(())
    }

    fn ctx_err(&self, e: Error) -> Error {
        e.in_index(&self.dir)
    }

    /// The record of a row selected as `get_where` and `for_each_record` select it.
    fn record_of(&self, r: &rusqlite::Row) -> Result<FileRecord> {
        let path = r.get::<_, PathText>(0)?.0;
        let hash = r.get_ref(4)?.as_blob()?;
        let hash = ContentHash(hash.try_into().map_err(|_| {
            Error::corrupt_here(format!(
                "the content hash of {} is not 32 bytes",
                path_text::display(&path)
            ))
        })?);
        let vector = match store::check_vector(r, 5, self.meta.dim)? {
            Ok(data) => store::blob_to_vec(data),
            Err(why) => {
                return Err(Error::corrupt_here(format!(
                    "the stored vector of {} is damaged: {why}",
                    path_text::display(&path)
                )));
            }
        };
        Ok(FileRecord {
            // After the path, modality, size, mtime, hash and the four vector columns.
            id: r.get(9)?,
            path,
            modality: r.get(1)?,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
            hash,
            vector,
        })
    }

    /// The row id of the file at `path` ([`FileRecord::id`]), without reading its vector.
    pub fn id_of(&self, path: &str) -> Result<Option<i64>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let r = (|| -> Result<Option<i64>> {
            let mut st = conn.prepare_cached("SELECT id FROM files WHERE path = ?1")?;
            let mut rows = st.query([SqlPath(path)])?;
            Ok(rows.next()?.map(|r| r.get(0)).transpose()?)
        })();
        self.ctx(r)
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
