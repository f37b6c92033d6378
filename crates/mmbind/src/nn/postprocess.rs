use burn::module::{Module, Param};

use burn::tensor::Tensor;

use crate::Result;
use crate::config::ScaleConfig;
use crate::weights::{WeightLoader, WeightSink};

/// L2 normalisation, then a logit scale `exp(log_logit_scale)` (clipped at `max` for text).
/// ImageBind's outputs are therefore *not* unit-norm except for vision.
#[derive(Module, Debug)]
pub struct Postprocess {
    /// Shape `[1]` here, `[]` in the checkpoint.
    pub log_logit_scale: Option<Param<Tensor<1>>>,
    pub max: Option<f64>,
    /// Whether training may change the scale: ImageBind learns text's (the one with a clip)
    /// and keeps the others fixed (they are buffers there), so those are detached from the
    /// graph and never receive a gradient.
    pub learnable: bool,
}

/// `F.normalize`'s epsilon.
const NORM_EPS: f64 = 1e-12;

impl Postprocess {
    pub fn load(w: &WeightLoader, scale: ScaleConfig) -> Result<Self> {
        match scale {
            ScaleConfig::None => Ok(Self {
                log_logit_scale: None,
                max: None,
                learnable: false,
            }),
            ScaleConfig::Logit { max, init } => {
                let value = if w.is_random() {
                    vec![init as f32]
                } else {
                    w.host("log_logit_scale", &[])?.data.clone()
                };
                let value = Tensor::<1>::from_floats(value.as_slice(), w.device());
                Ok(Self {
                    log_logit_scale: Some(w.named_param("log_logit_scale", value)),
                    max,
                    learnable: max.is_some(),
                })
            }
        }
    }

    pub fn save(&self, w: &WeightSink) {
        if let Some(s) = &self.log_logit_scale {
            w.put_shaped("log_logit_scale", &s.val(), vec![]);
        }
    }

    /// The multiplier applied after normalisation.
    pub fn scale(&self) -> Option<Tensor<1>> {
        let log_scale = self.log_logit_scale.as_ref()?.val();
        let log_scale = if self.learnable {
            log_scale
        } else {
            log_scale.detach()
        };
        let s = log_scale.exp();
        Some(match self.max {
            Some(max) => s.clamp_max(max),
            None => s,
        })
    }

    /// # Shapes
    /// - x: `[batch, d]` → same
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let norm = x
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(NORM_EPS);
        let x = x / norm;
        match self.scale() {
            Some(s) => x * s.reshape([1, 1]),
            None => x,
        }
    }
}
