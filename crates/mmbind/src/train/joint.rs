//! The joint vision+text step, with the two encoders on two threads.
//!
//! Vision and text meet only at the loss. So the loss's gradient with respect to each side's
//! embeddings (a `[batch, dim]` tensor) is computed first, and each side then pushes it back
//! through its own encoder, beside the other: the same gradients as one backward pass through
//! everything, in about the time of the slower side. Measured on the demo (tiny preset, batch
//! 32, each side on a thread of the phase's rayon pool): one epoch in 24.5 s against 30.4 s
//! with the sides one after the other (196 against 158 samples/s, same weights). The AdamW
//! step after it stays serial; it covers only the token rows the captions use (`token_rows`).

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use mmbind_modalities::Modality;

use super::cpu_step::{CpuPass, embedding_leaf};
use super::{graded_info_nce, symmetric_info_nce};
use crate::Result;
use crate::cpu::kernels::serially;
use crate::nn::{Drops, Encoder, EncoderInput};
use crate::tensor_io::RawInput;
use crate::weights::host_values;

/// The loss of one batch (symmetric InfoNCE over `vision · textᵀ`, with the graded targets
/// of `extras` when given, else one-hot; the text encoder's learned logit scale either way),
/// the gradients of both encoders' parameters, and when the forward passes ended. `parallel`
/// runs the two sides on two threads; the gradients are the same either way.
pub(super) fn joint_step(
    vision: &Encoder,
    text: &Encoder,
    vision_input: EncoderInput,
    text_input: EncoderInput,
    extras: JointExtras,
    parallel: bool,
) -> Result<(f64, GradientsParams, Instant)> {
    let (v, t) = both(
        parallel,
        || vision.forward_train(vision_input, extras.vision.as_ref()),
        || text.forward_train(text_input, extras.text.as_ref()),
    );
    let (v, t) = (v?, t?);
    let (loss_value, forward_done, g_v, g_t) = loss_and_upstream(
        v.clone().detach().require_grad(),
        t.clone().detach().require_grad(),
        extras.targets,
    );
    // The upstream gradients come without autodiff, so each side's product below treats
    // them as constants. Σ(embedding ⊙ upstream) has the upstream tensor as its gradient at the embeddings.
    let (mut grads, text_grads) = both(
        parallel,
        || GradientsParams::from_grads((v * g_v).sum().backward(), vision),
        || GradientsParams::from_grads((t * g_t).sum().backward(), text),
    );
    text.visit(&mut MoveGrads {
        from: text_grads,
        into: &mut grads,
    });
    Ok((loss_value, grads, forward_done))
}

/// [`joint_step`] on the CPU path (the ndarray device): each encoder's forward and backward
/// pass on `f32` rows (`super::cpu_step`), each side single-threaded on its own thread when
/// `parallel`; burn's autodiff only for the loss on the two `[batch, dim]` embeddings.
pub(super) fn joint_step_cpu(
    vision: &Encoder,
    text: &Encoder,
    vision_input: &RawInput,
    text_input: &RawInput,
    extras: JointExtras,
    parallel: bool,
    ad: &Device,
) -> Result<(f64, GradientsParams, Instant)> {
    let (v, t) = both(
        parallel,
        || {
            serially(|| {
                CpuPass::forward(
                    vision,
                    Modality::Vision,
                    vision_input,
                    extras.vision.as_ref(),
                )
            })
        },
        || serially(|| CpuPass::forward(text, Modality::Text, text_input, extras.text.as_ref())),
    );
    let ((v, v_pass), (t, t_pass)) = (v?, t?);
    let rows = vision_input.shape()[0];
    let (loss_value, forward_done, g_v, g_t) = loss_and_upstream(
        embedding_leaf(v, rows, ad),
        embedding_leaf(t, rows, ad),
        extras.targets,
    );
    let (g_v, g_t) = (host_values(g_v), host_values(g_t));
    let (grads, text_grads) = both(
        parallel,
        || serially(|| v_pass.backward(vision, &g_v)),
        || serially(|| t_pass.backward(text, &g_t)),
    );
    let mut grads = grads?;
    text.visit(&mut MoveGrads {
        from: text_grads?,
        into: &mut grads,
    });
    Ok((loss_value, grads, forward_done))
}

/// What a joint step adds to the two encoders' plain passes: graded targets (one-hot when
/// `None`) and what each side drops (stochastic depth, head dropout; `None` for a plain side).
#[derive(Default)]
pub(super) struct JointExtras {
    pub targets: Option<Tensor<2>>,
    pub vision: Option<Drops>,
    pub text: Option<Drops>,
}

/// The loss over `vision · textᵀ` (both leaves that require gradients), its value, when the
/// forward passes ended (now), and the loss's gradient at each side's embeddings.
fn loss_and_upstream(
    v_leaf: Tensor<2>,
    t_leaf: Tensor<2>,
    targets: Option<Tensor<2>>,
) -> (f64, Instant, Tensor<2>, Tensor<2>) {
    let logits = v_leaf.clone().matmul(t_leaf.clone().transpose());
    let loss = match targets {
        Some(q) => graded_info_nce(logits, q),
        None => symmetric_info_nce(logits),
    };
    let loss_value = f64::from(loss.clone().into_scalar::<f32>());
    let forward_done = Instant::now();
    let at_loss = loss.backward();
    let upstream = |leaf: &Tensor<2>| {
        leaf.grad(&at_loss)
            .expect("the embeddings take part in the loss")
    };
    let (g_v, g_t) = (upstream(&v_leaf), upstream(&t_leaf));
    (loss_value, forward_done, g_v, g_t)
}

/// `(a(), b())`, on two threads of the current rayon pool when `parallel` (the joint phase
/// runs in a pool of two; see `run::lane_pool`).
fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (a(), b());
    }
    rayon::join(a, b)
}

/// Moves one module's parameter gradients into another set.
struct MoveGrads<'a> {
    from: GradientsParams,
    into: &'a mut GradientsParams,
}

impl ModuleVisitor for MoveGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.from.remove::<D>(param.id) {
            self.into.register(param.id, g);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use burn::tensor::{Distribution, Int, TensorData};
    use mmbind_modalities::Modality;

    use super::*;
    use crate::config::ModelConfig;
    use crate::model::Model;

    /// The largest difference between two gradient sets over one module's parameters, the
    /// largest gradient, and how many parameters both sets hold.
    struct Compare<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        diff: f32,
        scale: f32,
        both: usize,
    }

    impl ModuleVisitor for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let (Some(a), Some(b)) = (self.a.get::<D>(param.id), self.b.get::<D>(param.id)) else {
                return;
            };
            self.both += 1;
            let diff: f32 = (a.clone() - b).abs().max().into_scalar();
            let scale: f32 = a.abs().max().into_scalar();
            self.diff = self.diff.max(diff);
            self.scale = self.scale.max(scale);
        }
    }

    /// (largest difference, largest gradient of `a`, parameters compared).
    pub(in crate::train) fn compare(
        m: &Encoder,
        a: &GradientsParams,
        b: &GradientsParams,
    ) -> (f32, f32, usize) {
        let mut c = Compare {
            a,
            b,
            diff: 0.0,
            scale: 0.0,
            both: 0,
        };
        m.visit(&mut c);
        (c.diff, c.scale, c.both)
    }

    /// Also the CPU path's step (`joint_step_cpu`) against the same backward pass.
    #[test]
    fn vision_and_text_on_two_threads_get_the_gradients_of_one_backward_pass() {
        let ad = crate::backend::ndarray_device().autodiff();
        let mut model = Model::random(ModelConfig::tiny(), 5, &ad).unwrap();
        let vision = model.encoders.slot_mut(Modality::Vision).take().unwrap();
        let text = model.encoders.slot_mut(Modality::Text).take().unwrap();
        let images = Tensor::<4>::random([6, 3, 64, 64], Distribution::Normal(0.0, 1.0), &ad);
        let ids: Vec<i64> = (0..6 * 32)
            .map(|i| (i * 7919 % 49_000) as i64 + 1)
            .collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [6, 32]), &ad);

        let v = vision.forward(EncoderInput::Image(images.clone())).unwrap();
        let t = text.forward(EncoderInput::Ids(ids.clone())).unwrap();
        let loss = symmetric_info_nce(v.matmul(t.transpose()));
        let expected_loss = f64::from(loss.clone().into_scalar::<f32>());
        let mut g = loss.backward();
        let direct = [
            GradientsParams::from_module(&mut g, &vision),
            GradientsParams::from_module(&mut g, &text),
        ];

        let step = |parallel| {
            joint_step(
                &vision,
                &text,
                EncoderInput::Image(images.clone()),
                EncoderInput::Ids(ids.clone()),
                JointExtras::default(),
                parallel,
            )
            .unwrap()
        };
        let cpu_step = |parallel| {
            joint_step_cpu(
                &vision,
                &text,
                &RawInput::Float {
                    shape: vec![6, 3, 64, 64],
                    data: host_values(images.clone().inner()),
                },
                &RawInput::Int {
                    shape: vec![6, 32],
                    data: ids
                        .clone()
                        .into_data()
                        .convert::<i64>()
                        .try_into_vec()
                        .unwrap(),
                },
                JointExtras::default(),
                parallel,
                &ad,
            )
            .unwrap()
        };
        let (loss_cpu, cpu_one, _) = cpu_step(false);
        let (loss_cpu_two, cpu_two, _) = cpu_step(true);
        assert!(
            (loss_cpu - expected_loss).abs() < 1e-5,
            "{loss_cpu} against {expected_loss}"
        );
        assert_eq!(loss_cpu, loss_cpu_two);
        for (m, direct) in [(&vision, &direct[0]), (&text, &direct[1])] {
            let (diff, _, n) = compare(m, &cpu_one, &cpu_two);
            assert!(n > 10, "{n} parameters compared");
            assert_eq!(diff, 0.0, "the CPU path on one thread and two differ");
            let (diff, scale, _) = compare(m, direct, &cpu_one);
            assert!(
                diff <= 1e-5 * scale,
                "the CPU path is off by {diff} (largest gradient {scale})"
            );
        }
        let (loss_one, one, _) = step(false);
        let (loss_two, two, _) = step(true);
        assert_eq!(loss_one, expected_loss);
        assert_eq!(loss_two, expected_loss);
        for (m, direct) in [(&vision, &direct[0]), (&text, &direct[1])] {
            let (diff, _, n) = compare(m, &one, &two);
            assert!(n > 10, "{n} parameters compared");
            assert_eq!(diff, 0.0, "one thread and two differ");
            let (diff, scale, n) = compare(m, direct, &one);
            assert!(n > 10, "{n} parameters compared");
            assert!(scale > 0.0, "no gradient reached the encoder");
            assert!(
                diff <= 1e-5 * scale,
                "off by {diff} (largest gradient {scale})"
            );
        }
    }
}
