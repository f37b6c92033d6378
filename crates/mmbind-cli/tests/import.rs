//! Importing checkpoints: both containers, identity, and every way a checkpoint can be wrong.

use std::collections::HashMap;

use mmbind::config::ImageBindKwargs;
use mmbind::import::import_imagebind;
use mmbind::weights::{HostTensor, ModelDir, read_checkpoint, write_safetensors};
use mmbind::{Error, Modality};

use crate::util::{fixture, tempdir};

fn tiny_kwargs() -> ImageBindKwargs {
    serde_json::from_str(&std::fs::read_to_string(fixture("tiny_kwargs.json")).unwrap()).unwrap()
}

#[test]
fn pth_and_safetensors_import_to_the_same_model() {
    let dir = tempdir();
    let (a, b) = (
        dir.path().join("from-pth"),
        dir.path().join("from-safetensors"),
    );
    // The official fixture set also has the checkpoint as .safetensors, but at 14.9 MB it
    // would double the repository's largest file; the same tensors, 0-dim logit scales
    // included, written as safetensors give the container the same test.
    let st = dir.path().join("tiny_imagebind.safetensors");
    let tensors = read_checkpoint(&fixture("tiny_imagebind.pth")).unwrap();
    write_safetensors(&tensors, HashMap::new(), &st).unwrap();
    let ma = import_imagebind(&fixture("tiny_imagebind.pth"), tiny_kwargs(), &a).unwrap();
    let mb = import_imagebind(&st, tiny_kwargs(), &b).unwrap();
    assert_eq!(ma.content_hash, mb.content_hash);
    assert_eq!(ma.parameters, 3_708_718);
    assert_eq!(ma.provenance.checkpoint_format.as_deref(), Some("pytorch"));
    assert_eq!(
        mb.provenance.checkpoint_format.as_deref(),
        Some("safetensors")
    );
    let wa = std::fs::read(a.join("weights.safetensors")).unwrap();
    let wb = std::fs::read(b.join("weights.safetensors")).unwrap();
    assert!(
        wa == wb,
        "weights.safetensors differ between the two imports"
    );
    assert_eq!(ma.config, mb.config);
}

#[test]
fn model_dir_reloads_with_the_same_weights_and_hash() {
    let dir = tempdir();
    let out = dir.path().join("m");
    let manifest = import_imagebind(&fixture("tiny_imagebind.pth"), tiny_kwargs(), &out).unwrap();
    let md = ModelDir::new(&out);
    let (model, reread) = md.load(&mmbind::backend::ndarray_device()).unwrap();
    assert_eq!(reread, manifest);
    assert_eq!(model.modalities(), Modality::ALL.to_vec());
    assert_eq!(model.to_tensors().content_hash(), manifest.content_hash);
}

#[test]
fn newer_model_format_is_refused_with_advice() {
    let dir = tempdir();
    let out = dir.path().join("m");
    import_imagebind(&fixture("tiny_imagebind.pth"), tiny_kwargs(), &out).unwrap();
    let path = out.join("model.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 99");
    std::fs::write(&path, text).unwrap();
    let err = ModelDir::new(&out).manifest().unwrap_err().to_string();
    assert!(
        err.contains("newer mmbind") && err.contains("upgrade"),
        "{err}"
    );
}

#[test]
fn missing_model_dir_says_what_it_expected() {
    let dir = tempdir();
    let err = ModelDir::new(dir.path())
        .manifest()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no model.json"), "{err}");
}

fn import_err(path: &std::path::Path, kwargs: ImageBindKwargs) -> String {
    let dir = tempdir();
    let err = import_imagebind(path, kwargs, &dir.path().join("out")).unwrap_err();
    assert!(
        !dir.path().join("out/model.json").exists(),
        "a failed import must not leave a model behind"
    );
    err.to_string()
}

#[test]
fn truncated_pth_is_a_clear_error() {
    let dir = tempdir();
    let bytes = std::fs::read(fixture("tiny_imagebind.pth")).unwrap();
    let path = dir.path().join("truncated.pth");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = import_err(&path, tiny_kwargs());
    assert!(err.contains("truncated.pth"), "{err}");
}

#[test]
fn garbage_and_empty_files_are_clear_errors() {
    let dir = tempdir();
    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"this is not a checkpoint at all, just text").unwrap();
    let err = import_err(&garbage, tiny_kwargs());
    assert!(
        err.contains("garbage.pth") && err.contains("safetensors"),
        "{err}"
    );
    let empty = dir.path().join("empty.pth");
    std::fs::write(&empty, b"").unwrap();
    let err = import_err(&empty, tiny_kwargs());
    assert!(err.contains("empty.pth") && err.contains("empty"), "{err}");
    let err = import_err(&dir.path().join("nope.pth"), tiny_kwargs());
    assert!(err.contains("nope.pth"), "{err}");
}

#[test]
fn wrong_config_names_the_first_mismatched_key_and_shapes() {
    // The tiny checkpoint read as imagebind_huge: the first vision weight has the wrong shape.
    let err = import_err(&fixture("tiny_imagebind.pth"), ImageBindKwargs::huge());
    assert!(
        err.contains("modality_preprocessors.vision.cls_token"),
        "{err}"
    );
    assert!(
        err.contains("[1, 1, 64]") && err.contains("[1, 1, 1280]"),
        "{err}"
    );
}

#[test]
fn missing_and_unexpected_keys_are_named() {
    let dir = tempdir();
    let mut tensors = read_checkpoint(&fixture("tiny_imagebind.pth")).unwrap();
    let removed = "modality_trunks.audio.blocks.1.attn.bias_v";
    tensors.0.remove(removed).unwrap();
    let missing = dir.path().join("missing.safetensors");
    write_safetensors(&tensors, HashMap::new(), &missing).unwrap();
    let err = import_imagebind(&missing, tiny_kwargs(), &dir.path().join("a")).unwrap_err();
    assert!(
        matches!(err, Error::MissingWeight { ref key, .. } if key == removed),
        "{err}"
    );

    let mut tensors = read_checkpoint(&fixture("tiny_imagebind.pth")).unwrap();
    tensors.insert(
        "modality_heads.smell.0.weight",
        HostTensor::new(vec![2], vec![1.0, 2.0]),
    );
    let extra = dir.path().join("extra.safetensors");
    write_safetensors(&tensors, HashMap::new(), &extra).unwrap();
    let err = import_imagebind(&extra, tiny_kwargs(), &dir.path().join("b"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("modality_heads.smell.0.weight") && err.contains("1 unexpected"),
        "{err}"
    );
}
