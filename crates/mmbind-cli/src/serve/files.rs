//! Indexed files by id: their records, their bytes and their thumbnails. A file is named by
//! an id the server gave out (`{row}-{check}`), never by a path from the request, and its
//! bytes are served only while it is the regular file that was indexed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use mmbind::search::Index;
use mmbind_index::path_text;
use mmbind_index::{ContentHash, FileRecord};

/// The id of an indexed file: its row and 8 hex digits of its path's hash, so that an id
/// whose row SQLite gave to another file after a removal is not found.
pub fn id_of(row: i64, path: &str) -> String {
    format!(
        "{row}-{}",
        &ContentHash::of_bytes(path.as_bytes()).hex()[..8]
    )
}

/// The record of the indexed file `id`, if it is (still) in the index.
pub fn record(index: &Index, id: &str) -> Result<Option<FileRecord>, String> {
    let Some((row, _)) = id.split_once('-') else {
        return Ok(None);
    };
    let Ok(row) = row.parse::<i64>() else {
        return Ok(None);
    };
    let rec = index.get_by_id(row).map_err(|e| e.to_string())?;
    Ok(rec.filter(|r| id_of(r.id, &r.path) == id))
}

/// The id of the indexed file at `path` (as the index writes paths).
pub fn id_at(index: &Index, path: &str) -> Option<String> {
    let row = index.id_of(path).ok()??;
    Some(id_of(row, path))
}

/// The indexed file, opened, if it is still the regular file that was indexed: no link
/// anywhere on its path (the path resolves to itself), not a link itself, and the size and
/// modification time the index recorded. `None` otherwise: its content is not what the index
/// vouches for.
pub fn open(rec: &FileRecord) -> Option<(std::fs::File, PathBuf)> {
    let path: PathBuf = path_text::decode(&rec.path).into_owned();
    if std::fs::canonicalize(&path).ok()? != path {
        return None;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .ok()?;
    let meta = file.metadata().ok()?;
    // As `FileStat` records it.
    let mtime_ns = (meta.modified().ok()?)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_else(|e| -(e.duration().as_nanos() as i64));
    (meta.is_file() && meta.len() == rec.size && mtime_ns == rec.mtime_ns).then_some((file, path))
}

/// The bytes of an indexed file (see [`open`]), up to `max` bytes.
pub fn read(rec: &FileRecord, max: u64) -> Option<Vec<u8>> {
    let (file, _) = open(rec).filter(|_| rec.size <= max)?;
    let mut bytes = Vec::with_capacity(rec.size as usize);
    file.take(rec.size).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The media type a browser needs for the file's bytes.
pub fn content_type(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        Some("tif" | "tiff") => "image/tiff",
        Some("wav" | "wave") => "audio/wav",
        Some("flac") => "audio/flac",
        Some("ogg" | "oga") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        Some("txt" | "csv") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
