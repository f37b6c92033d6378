//! The index targets' template index and the checksum forging of its derived files.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::scratch_dir;

/// Vector dimension of the template index.
pub const DIM: usize = 4;

/// File names inside an index directory (see `crates/index/src/lib.rs`).
pub const MATRIX_FILE: &str = "vectors.mat";
pub const HNSW_FILE: &str = "hnsw.usearch";

/// A small index built once per process, opened for searching.
pub struct TemplateIndex {
    pub dir: PathBuf,
    pub index: mmbind_index::Index,
    /// The bytes of the valid `vectors.mat` and `hnsw.usearch` it was built with.
    pub matrix: Vec<u8>,
    pub graph: Vec<u8>,
    /// The random index uid both files are stamped with (header bytes 32..48).
    pub uid: [u8; 16],
}

impl TemplateIndex {
    pub fn get() -> &'static TemplateIndex {
        static T: OnceLock<TemplateIndex> = OnceLock::new();
        T.get_or_init(TemplateIndex::build)
    }

    fn build() -> TemplateIndex {
        use mmbind_index::{Index, ModelInfo, synth};
        let dir = scratch_dir().join("index");
        let _ = std::fs::remove_dir_all(&dir);
        let model = ModelInfo::new("fuzz-model", "fuzz", DIM);
        {
            let mut ix = Index::create_or_open(&dir, &model).expect("create the template index");
            let mods = ["vision", "audio", "text"];
            let files: Vec<(String, String, Vec<f32>)> = (0..6)
                .map(|i| {
                    let mut v: Vec<f32> = (0..DIM)
                        .map(|j| ((i * 7 + j * 3) % 5) as f32 - 2.0)
                        .collect();
                    v[i % DIM] += 1.0;
                    synth::normalize(&mut v);
                    (format!("dir/file{i}.bin"), mods[i % 3].to_string(), v)
                })
                .collect();
            synth::index_files(&mut ix, &files).expect("fill the template index");
            ix.build_approx(None).expect("build the template graph");
        }
        let matrix = std::fs::read(dir.join(MATRIX_FILE)).expect("template vectors.mat");
        let graph = std::fs::read(dir.join(HNSW_FILE)).expect("template hnsw.usearch");
        let mut uid = [0u8; 16];
        uid.copy_from_slice(&matrix[32..48]);
        // `MMBIND_FUZZ_WRITE_SEEDS=DIR`: save the template files as seeds.
        if let Some(out) = std::env::var_os("MMBIND_FUZZ_WRITE_SEEDS") {
            let out = PathBuf::from(out);
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join(MATRIX_FILE), &matrix).unwrap();
            std::fs::write(out.join(HNSW_FILE), &graph).unwrap();
        }
        let mut index = Index::open(&dir).expect("open the template index");
        // `search_auto` goes through the graph from the first file on.
        index.set_approx_min_items(1);
        TemplateIndex {
            dir,
            index,
            matrix,
            graph,
            uid,
        }
    }
}

// The derived files are checksummed (crates/index/src/integrity.rs): a CRC-32 per 1 MiB block of the
// body in a table, the table's BLAKE3 hash (first 16 bytes) in the header/footer, and the
// header/footer's own hash in its last 16 bytes. A fuzzer cannot solve hashes, so the targets
// recompute them ("forge" the file) where they should reach the code behind the checks, and
// patch in the template's random uid. This mirrors matrix format 2 and graph format 5: update
// it when those layouts change (a target whose seeds all come back "damaged" in verbose mode
// has gone stale).

/// Bytes of a BLAKE3 checksum, of a block's CRC-32, of the header/footer, and of a block.
const SUM: usize = 16;
const BLOCK_SUM: usize = 4;
const HEAD: usize = 4096;
const BLOCK: usize = 1 << 20;

fn sum(b: &[u8]) -> [u8; SUM] {
    blake3_of(b)[..SUM].try_into().unwrap()
}

fn get_u64(b: &[u8], at: usize) -> usize {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
}

/// Writes the block table of `body` into `table` where its length fits; false otherwise.
fn write_table(body: &[u8], table: &mut [u8]) -> bool {
    if table.len() != body.len().div_ceil(BLOCK) * BLOCK_SUM {
        return false;
    }
    for (block, slot) in body.chunks(BLOCK).zip(table.chunks_mut(BLOCK_SUM)) {
        slot.copy_from_slice(&crc32fast::hash(block).to_le_bytes());
    }
    true
}

/// `vectors.mat` (format 2): header at 0 (uid 32..48, table offset at 128, table hash
/// 144..160, header hash 4080..4096), body 4096..table, table to the end. The uid and every
/// hash are recomputed from the fuzzed bytes, so the parser behind them sees the file as if
/// mmbind had written it.
pub fn forge_matrix(b: &mut [u8], uid: &[u8; 16]) {
    if b.len() < HEAD {
        return;
    }
    b[32..48].copy_from_slice(uid);
    let table = get_u64(b, 128);
    if (HEAD..=b.len()).contains(&table) {
        let (body, rest) = b.split_at_mut(table);
        write_table(&body[HEAD..], rest);
        let t = sum(&b[table..]);
        b[144..160].copy_from_slice(&t);
    }
    let h = sum(&b[..HEAD - SUM]);
    b[HEAD - SUM..HEAD].copy_from_slice(&h);
}

/// `hnsw.usearch` (format 5): body (usearch payload, row table, stranded ids), block table,
/// then a 4096-byte footer (uid 32..48, payload length 80, keys offset 88, rows 96, stranded
/// 104, table hash 128..144, footer hash 4080..4096). The uid, the block table, the table's
/// hash and the footer's hash are recomputed.
pub fn forge_graph(b: &mut [u8], uid: &[u8; 16]) {
    if b.len() < HEAD {
        return;
    }
    let foot = b.len() - HEAD;
    b[foot + 32..foot + 48].copy_from_slice(uid);
    let (keys_off, rows, stranded) = (
        get_u64(b, foot + 88),
        get_u64(b, foot + 96),
        get_u64(b, foot + 104),
    );
    let body = rows.checked_mul(16).and_then(|r| {
        r.checked_add(stranded.checked_mul(8)?)?
            .checked_add(keys_off)
    });
    if let Some(body) = body.filter(|&n| n <= foot) {
        let (data, rest) = b.split_at_mut(body);
        write_table(data, &mut rest[..foot - body]);
        let t = sum(&b[body..foot]);
        b[foot + 128..foot + 144].copy_from_slice(&t);
    }
    let h = sum(&b[foot..b.len() - SUM]);
    let n = b.len();
    b[n - SUM..].copy_from_slice(&h);
}

fn blake3_of(b: &[u8]) -> [u8; 32] {
    *blake3::hash(b).as_bytes()
}
