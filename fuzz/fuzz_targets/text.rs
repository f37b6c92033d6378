//! Text: a `.txt` file (UTF-8, BOM) through ftfy-style fixing, HTML unescaping, cleaning and
//! CLIP's BPE tokenizer, as `mmbind embed --text` / a `.txt` input sees it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mmbind_modalities::bpe::Tokenizer;
use mmbind_modalities::{Modality, Prepared, Preprocess, Source};

fuzz_target!(|data: &[u8]| {
    mmbind_fuzz::setup();
    let pre = Preprocess::default();
    let tok = Tokenizer::imagebind();
    let context = pre.text.context_length;
    let check = |ids: &[i64]| {
        assert_eq!(ids.len(), context);
        assert_eq!(ids[0], i64::from(tok.sot_id()));
        assert!(
            ids.iter()
                .all(|&i| (0..tok.vocab_size() as i64).contains(&i))
        );
    };
    // Inline text (`--text`): any valid UTF-8.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(Prepared::Ids(ids)) = pre.prepare(Modality::Text, &Source::Text(text.to_owned()))
        {
            check(&ids);
        }
        // The unbounded encoder and its inverse must not panic either.
        let ids = tok.encode(text);
        let _ = tok.decode(&ids);
    }
    // A `.txt` file: invalid UTF-8 must be an error, not a panic.
    let path = mmbind_fuzz::scratch_file("input.txt", data);
    let r = pre.prepare(Modality::Text, &Source::File(path));
    mmbind_fuzz::verbose("text file", &r);
    if let Ok(Prepared::Ids(ids)) = r {
        check(&ids);
    }
});
