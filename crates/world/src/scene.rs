//! One scene in memory: its objects drawn, then every view rendered from its own random stream.

use mmbind_schema::Split;

use crate::images::DepthImage;
use crate::objects::ObjectInstance;
use crate::plan::{SceneSpec, plan};
use crate::util::{Stream, rng_for};
use crate::{WorldConfig, audio, images, imu, objects, text};

/// One scene with all its views in memory.
#[derive(Clone, Debug)]
pub struct Scene {
    /// `s0001`, `s0002`, ... (1-based, at least four digits).
    pub id: String,
    pub index: usize,
    pub split: Split,
    /// The objects; `objects[0]` holds the label concept.
    pub objects: Vec<ObjectInstance>,
    pub text: String,
    pub vision: image::RgbImage,
    /// Millimetres, 0 = no reading.
    pub depth: DepthImage,
    pub thermal: image::GrayImage,
    /// 16 kHz mono samples.
    pub audio: Vec<i16>,
    /// Rows `[t, ax, ay, az, gx, gy, gz]`.
    pub imu: Vec<[f32; 7]>,
    /// Which object each pixel of the three images shows, row-major: 0 = background,
    /// `k + 1` = `objects[k]` (the nearest object covering at least half the pixel).
    pub object_map: Vec<u8>,
}

impl Scene {
    /// Name of the scene's label concept.
    pub fn label(&self) -> &'static str {
        self.objects[0].concept().name
    }

    /// Names of all the scene's concepts, label first.
    pub fn concept_names(&self) -> Vec<&'static str> {
        self.objects.iter().map(|o| o.concept().name).collect()
    }
}

/// The id of scene `index` in a world of `scenes` scenes.
pub fn scene_id(index: usize, scenes: usize) -> String {
    let width = scenes.to_string().len().max(4);
    format!("s{:0width$}", index + 1)
}

/// Renders scene `index` of the world `cfg` in memory.
///
/// # Panics
/// If the configuration is invalid or `index >= cfg.scenes`.
pub fn render_scene(cfg: &WorldConfig, index: usize) -> Scene {
    let specs = plan(cfg).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        index < cfg.scenes,
        "scene index {index} out of range (the world has {} scenes)",
        cfg.scenes
    );
    render_spec(cfg, index, &specs[index])
}

pub(crate) fn render_spec(cfg: &WorldConfig, index: usize, spec: &SceneSpec) -> Scene {
    let item = index as u64;
    let mut rng = rng_for(cfg.seed, item, Stream::Objects);
    let mut objects: Vec<ObjectInstance> = Vec::new();
    for &c in &spec.concepts {
        let o = objects::sample_object(&mut rng, c, &objects);
        objects.push(o);
    }
    let (vision, background) =
        images::render_vision(&objects, &mut rng_for(cfg.seed, item, Stream::Vision));
    let text = text::caption(
        &objects,
        &background,
        &mut rng_for(cfg.seed, item, Stream::Text),
    );
    let audio = audio::render_audio(&objects, &mut rng_for(cfg.seed, item, Stream::Audio));
    let depth = images::render_depth(&objects, &mut rng_for(cfg.seed, item, Stream::Depth));
    let thermal = images::render_thermal(&objects, &mut rng_for(cfg.seed, item, Stream::Thermal));
    let imu = imu::render_imu(&objects, &mut rng_for(cfg.seed, item, Stream::Imu));
    let object_map = images::object_map(&objects);
    Scene {
        id: scene_id(index, cfg.scenes),
        index,
        split: spec.split,
        objects,
        text,
        vision,
        depth,
        thermal,
        audio,
        imu,
        object_map,
    }
}
