//! A line of `pairs.jsonl`, the dataset format: `mmbind world` writes it, `mmbind train` and
//! `eval` read it. The file's JSON keys are the fields below; files are paths relative to
//! the directory holding `pairs.jsonl`, text is inline.

use serde::{Deserialize, Serialize};

use crate::PerModality;

/// Which part of the data a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    /// The name in `pairs.jsonl` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One line of `pairs.jsonl` as written: what the dataset checks and resolves (paths inside
/// the dataset, at least two views, defaults) is the reader's business. Keys other than
/// these are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairsRow {
    pub id: String,
    /// Rows of one scene share it (a reader takes `id` when it is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// A path for a file modality, the caption itself for text; under each modality's name.
    #[serde(flatten)]
    pub views: PerModality<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// The class of the row (evaluation's zero-shot and P@1 count by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Every concept in the scene (a reader takes `[label]` when it is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concepts: Option<Vec<String>>,
}

impl PairsRow {
    /// A row with no views, split or labels.
    pub fn new(id: impl Into<String>) -> Self {
        PairsRow {
            id: id.into(),
            scene: None,
            views: PerModality::default(),
            split: None,
            label: None,
            concepts: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Modality;

    #[test]
    fn a_row_round_trips_with_only_the_keys_it_has() {
        let mut row = PairsRow::new("s1-audio");
        row.scene = Some("s1".into());
        row.views[Modality::Vision] = Some("vision/s1.png".into());
        row.views.audio = Some("audio/s1.wav".into());
        row.split = Some(Split::Train);
        let line = serde_json::to_string(&row).unwrap();
        assert_eq!(
            line,
            r#"{"id":"s1-audio","scene":"s1","vision":"vision/s1.png","audio":"audio/s1.wav","split":"train"}"#
        );
        assert_eq!(serde_json::from_str::<PairsRow>(&line).unwrap(), row);
        let views: Vec<_> = row.views.present().map(|(m, v)| (m, v.as_str())).collect();
        assert_eq!(
            views,
            [
                (Modality::Vision, "vision/s1.png"),
                (Modality::Audio, "audio/s1.wav")
            ]
        );
        // Keys it does not know are ignored; a wrong split is an error.
        let extra: PairsRow = serde_json::from_str(r#"{"id":"x","note":"hi"}"#).unwrap();
        assert_eq!(extra, PairsRow::new("x"));
        assert!(serde_json::from_str::<PairsRow>(r#"{"id":"x","split":"dev"}"#).is_err());
    }
}
