//! `pairs.jsonl` rows: any line through the dataset's own row parser (`crates/mmbind/src/dataset/row.rs`,
//! compiled here as it is: it needs no burn), with the dataset-directory rule on. A row the
//! parser accepts must name files inside the dataset directory only.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::Source;

#[path = "../../crates/mmbind/src/dataset/row.rs"]
#[allow(dead_code)]
mod row;

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let root = mmbind_fuzz::scratch_dir();
    let canonical = root.canonicalize().ok();
    let parsed = row::parse(line, root, canonical.as_deref(), false);
    mmbind_fuzz::verbose("pairs row", &parsed);
    if let Ok(row) = parsed {
        for source in row.views.values() {
            if let Source::File(p) = source {
                assert!(
                    p.starts_with(root),
                    "{} escapes {}",
                    p.display(),
                    root.display()
                );
                assert!(
                    !p.components().any(|c| c.as_os_str() == ".."),
                    "{}",
                    p.display()
                );
            }
        }
    }
    let _ = row::parse(line, Path::new("data"), None, true);
});
