//! Tokenizer parity with ImageBind's `load_and_transform_text` (fixtures made with the
//! reference) plus cleaning and file-loading edge cases.

use std::path::{Path, PathBuf};

use mmbind_modalities::text::{
    TextPreprocess, Tokenizer, clean, fix_text, html_unescape, load_text_file,
};
use serde_json::Value;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer_cases.json"
);
const DETAILS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tokenizer_details.json"
);
const VOCAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/bpe_simple_vocab_16e6.txt.gz"
);

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn ids_of(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_i64().expect("integer id"))
        .collect()
}

fn detail_cases() -> Vec<Value> {
    read_json(DETAILS)["cases"]
        .as_array()
        .expect("cases")
        .clone()
}

/// A path in the temp dir that no other test (or test run) uses.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mmbind-text-{}-{name}", std::process::id()))
}

#[test]
fn every_fixture_case_gives_identical_ids() {
    let cases = read_json(CASES);
    let cases = cases.as_object().expect("map text -> ids");
    let tok = Tokenizer::imagebind();
    let mut matched = 0;
    for (text, expected) in cases {
        let got = tok.tokenize(text, 77);
        if got == ids_of(expected) {
            matched += 1;
        } else {
            eprintln!(
                "mismatch for {text:?}\n  got      {got:?}\n  expected {:?}",
                ids_of(expected)
            );
        }
    }
    eprintln!("tokenizer cases matched: {matched}/{}", cases.len());
    assert_eq!(cases.len(), 13);
    assert_eq!(matched, cases.len());
}

#[test]
fn cleaning_matches_reference_for_every_case() {
    for case in detail_cases() {
        let text = case["text"].as_str().expect("text");
        assert_eq!(
            clean(text),
            case["cleaned"].as_str().expect("cleaned"),
            "input {text:?}"
        );
    }
}

#[test]
fn untruncated_bpe_ids_match_reference() {
    let tok = Tokenizer::imagebind();
    for case in detail_cases() {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<u32> = ids_of(&case["bpe_ids"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        let got = tok.encode(text);
        assert_eq!(got, expected, "input {text:?}");
        assert_eq!(
            got.len() as u64,
            case["num_bpe_tokens"].as_u64().expect("count")
        );
        assert_eq!(
            tok.tokenize(text, 77),
            ids_of(&case["ids"]),
            "input {text:?}"
        );
    }
}

#[test]
fn eot_index_is_the_first_argmax() {
    let tok = Tokenizer::imagebind();
    for case in detail_cases() {
        let ids = tok.tokenize(case["text"].as_str().expect("text"), 77);
        let max = *ids.iter().max().expect("non-empty");
        let first = ids.iter().position(|&x| x == max).expect("max present");
        assert_eq!(first as u64, case["eot_index"].as_u64().expect("eot_index"));
    }
}

#[test]
fn decode_matches_reference() {
    let tok = Tokenizer::imagebind();
    for case in detail_cases() {
        let ids: Vec<u32> = ids_of(&case["bpe_ids"])
            .into_iter()
            .map(|x| x as u32)
            .collect();
        assert_eq!(
            tok.decode(&ids),
            case["decoded_bpe"].as_str().expect("decoded_bpe")
        );
    }
}

#[test]
fn vocabulary_shape_matches_details() {
    let details = read_json(DETAILS);
    let tok = Tokenizer::imagebind();
    assert_eq!(
        tok.vocab_size() as u64,
        details["vocab_size"].as_u64().expect("vocab_size")
    );
    assert_eq!(
        u64::from(tok.sot_id()),
        details["sot_id"].as_u64().expect("sot")
    );
    assert_eq!(
        u64::from(tok.eot_id()),
        details["eot_id"].as_u64().expect("eot")
    );
    assert_eq!(
        TextPreprocess::default().context_length as u64,
        details["context_length"].as_u64().expect("ctx")
    );
}

#[test]
fn empty_string_is_sot_eot_then_zeros() {
    let ids = Tokenizer::imagebind().tokenize("", 77);
    assert_eq!(ids.len(), 77);
    assert_eq!(&ids[..2], &[49406, 49407]);
    assert!(ids[2..].iter().all(|&x| x == 0));
    assert_eq!(TextPreprocess::default().tokenize("   \n\t "), ids);
}

#[test]
fn short_contexts_keep_eot_last() {
    let tok = Tokenizer::imagebind();
    assert_eq!(
        tok.tokenize("a photo of a dog.", 4),
        vec![49406, 320, 1125, 49407]
    );
    assert_eq!(tok.tokenize("a photo", 1), vec![49407]);
    assert!(tok.tokenize("a photo", 0).is_empty());
}

#[test]
fn loading_from_file_equals_embedded() {
    let tok = Tokenizer::from_file(Path::new(VOCAB)).expect("vocab loads");
    let text = "Café crème brûlée, 2023!";
    assert_eq!(
        tok.tokenize(text, 77),
        Tokenizer::imagebind().tokenize(text, 77)
    );
}

#[test]
fn bad_vocab_is_an_error_not_a_panic() {
    let err = Tokenizer::from_gz_bytes(b"not gzip at all").expect_err("garbage rejected");
    assert!(err.to_string().contains("<bpe vocab>"), "{err}");
    let missing = temp_path("missing.txt.gz");
    let err = Tokenizer::from_file(&missing).expect_err("missing file rejected");
    assert!(err.to_string().contains("missing.txt.gz"), "{err}");
}

#[test]
fn text_files_load_and_reject_invalid_utf8() {
    let good = temp_path("good.txt");
    std::fs::write(&good, "\u{FEFF}a dog\n").expect("write");
    assert_eq!(load_text_file(&good).expect("utf-8 loads"), "a dog\n");

    let bad = temp_path("bad.txt");
    std::fs::write(&bad, b"caf\xe9").expect("write");
    let err = load_text_file(&bad)
        .expect_err("latin-1 rejected")
        .to_string();
    assert!(err.contains("bad.txt") && err.contains("UTF-8"), "{err}");

    let missing = temp_path("nope.txt");
    let err = load_text_file(&missing)
        .expect_err("missing rejected")
        .to_string();
    assert!(err.contains("nope.txt"), "{err}");
    let _ = std::fs::remove_file(good);
    let _ = std::fs::remove_file(bad);
}

#[test]
fn html_unescape_follows_python() {
    assert_eq!(html_unescape("&amp;lt;b&amp;gt;"), "&lt;b&gt;");
    assert_eq!(
        html_unescape("&lt;b&gt; &quot;q&quot; &#39;&#x41;&#X42;"),
        "<b> \"q\" 'AB"
    );
    // Legacy names need no semicolon and may run into following letters.
    assert_eq!(html_unescape("&copy 2024 &ampx &notit;"), "© 2024 &x ¬it;");
    // Unknown names and bare ampersands stay as they are.
    assert_eq!(html_unescape("AT&T & &bogus; &#;"), "AT&T & &bogus; &#;");
    // Python's replacements for invalid code points.
    assert_eq!(
        html_unescape("&#0;&#128;&#1;&#xD800;&#99999999;"),
        "\u{FFFD}€\u{FFFD}\u{FFFD}"
    );
}

#[test]
fn fix_text_repairs_without_touching_good_text() {
    assert_eq!(fix_text("doesnÃ¢â‚¬â„¢t"), "doesn't");
    assert_eq!(fix_text("cafÃ©"), "café");
    assert_eq!(fix_text("ðŸ˜€"), "😀");
    for good in [
        "Café crème brûlée",
        "naïve résumé, Ångström, Straße",
        "très…»",
        "日本語",
        "ΑΒΓ",
    ] {
        assert_eq!(fix_text(good), good);
    }
    assert_eq!(fix_text("très…”"), "très…\"");
    assert_eq!(fix_text("ＦＵＬＬ　ｗｉｄｔｈ"), "FULL width");
    assert_eq!(
        fix_text("e\u{301}\u{1b}[31mred\u{1b}[0m\u{200b}"),
        "\u{e9}red\u{200b}"
    );
    assert_eq!(fix_text("&EACUTE; &eacute;"), "É é");
    // Once a line holds '<', ftfy leaves entities for html.unescape.
    assert_eq!(fix_text("<p>&amp;amp;</p>"), "<p>&amp;amp;</p>");
}

#[test]
fn special_tokens_inside_text_map_to_their_ids() {
    let tok = Tokenizer::imagebind();
    let ids = tok.encode("<|startoftext|>x<|endoftext|>");
    assert_eq!(ids.first(), Some(&49406));
    assert_eq!(ids.last(), Some(&49407));
}
