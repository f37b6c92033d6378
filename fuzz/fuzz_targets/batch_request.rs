//! `batch` requests: any bytes through the line reader and request parser
//! (`crates/mmbind-cli/src/batch/request.rs` and `protocol.rs`, compiled here as they are:
//! they need no burn). Every line gets an answer (a request or a reason), and what is
//! accepted is within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::Limits;

#[path = "../../crates/mmbind-cli/src/protocol.rs"]
#[allow(dead_code)]
mod protocol;
#[path = "../../crates/mmbind-cli/src/batch/request.rs"]
#[allow(dead_code)]
mod request;

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let mut input = std::io::Cursor::new(data);
    let mut buf = Vec::new();
    let max = 4096;
    let mut lines = 0;
    while let Some(line) = request::read_line(&mut input, max, &mut buf).expect("in memory") {
        lines += 1;
        assert!(lines <= data.len() + 1, "the reader makes progress");
        let Ok(line) = line else { continue };
        assert!(line.len() as u64 <= max);
        let parsed = request::parse(line);
        mmbind_fuzz::verbose("batch request", &parsed.request);
        if let Ok(protocol::Request::Search(search)) = parsed.request {
            let top_k = search.options.top_k;
            assert!(top_k >= 1 && top_k as u64 <= Limits::current().top_k);
            assert!(search.terms.iter().all(|t| t.weight.is_finite()));
        }
    }
});
