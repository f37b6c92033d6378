//! The `pairs.jsonl` rows of a scene and the relative paths of its five files.

use mmbind_schema::{Modality, PairsRow, PerModality, Split};

use crate::scene::Scene;

/// Relative file paths of a scene's five file views.
pub(crate) struct ScenePaths {
    pub(crate) vision: String,
    pub(crate) audio: String,
    pub(crate) depth: String,
    pub(crate) thermal: String,
    pub(crate) imu: String,
}

impl ScenePaths {
    pub(crate) fn new(id: &str) -> ScenePaths {
        ScenePaths {
            vision: format!("vision/{id}.png"),
            audio: format!("audio/{id}.wav"),
            depth: format!("depth/{id}.png"),
            thermal: format!("thermal/{id}.png"),
            imu: format!("imu/{id}.csv"),
        }
    }
}

/// The rows of one scene (five for train, one for val/test).
pub(crate) fn rows_of(scene: &Scene) -> Vec<PairsRow> {
    let p = ScenePaths::new(&scene.id);
    let mut base = PairsRow::new(scene.id.clone());
    base.scene = Some(scene.id.clone());
    base.views.vision = Some(p.vision.clone());
    base.split = Some(scene.split);
    let names = || {
        scene
            .concept_names()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    match scene.split {
        Split::Train => {
            // The concepts, without a label: what a graded training loss may compare (see
            // `mmbind train --targets`); the classes a label would name are for evaluation.
            base.concepts = Some(names());
            let with = |m: Modality, view: &str| {
                let mut row = base.clone();
                row.id = format!("{}-{m}", scene.id);
                row.views[m] = Some(view.to_string());
                row
            };
            vec![
                with(Modality::Text, &scene.text),
                with(Modality::Audio, &p.audio),
                with(Modality::Depth, &p.depth),
                with(Modality::Thermal, &p.thermal),
                with(Modality::Imu, &p.imu),
            ]
        }
        Split::Val | Split::Test => vec![PairsRow {
            views: PerModality {
                text: Some(scene.text.clone()),
                audio: Some(p.audio.clone()),
                depth: Some(p.depth.clone()),
                thermal: Some(p.thermal.clone()),
                imu: Some(p.imu.clone()),
                ..base.views.clone()
            },
            label: Some(scene.label().to_string()),
            concepts: Some(names()),
            ..base
        }],
    }
}
