use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

/// Symmetric InfoNCE (CLIP, ImageBind): row `i` of `a` and row `i` of `b` are a positive
/// pair, every other row of the batch a negative; cross-entropy over `logits = a·bᵀ` in
/// both directions, averaged.
///
/// # Shapes
/// - logits: `[batch, batch]`
/// - output: `[1]`
pub fn symmetric_info_nce(logits: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let eye = Tensor::<2>::eye(n, &logits.device());
    let a_to_b = (log_softmax(logits.clone(), 1) * eye.clone()).sum();
    let b_to_a = (log_softmax(logits, 0) * eye).sum();
    (a_to_b + b_to_a).mul_scalar(-0.5 / n as f64)
}

/// Linear warm-up to `peak`, then a cosine decay to zero.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn info_nce_is_ln_n_for_uniform_logits_and_small_for_a_clear_diagonal() {
        let device = crate::backend::ndarray_device();
        let uniform = Tensor::<2>::zeros([4, 4], &device);
        let loss: f32 = symmetric_info_nce(uniform).into_scalar();
        assert!((loss - 4f32.ln()).abs() < 1e-6);
        let diag = Tensor::<2>::from_data(
            TensorData::new(vec![20f32, 0., 0., 0., 20., 0., 0., 0., 20.], [3, 3]),
            &device,
        );
        let loss: f32 = symmetric_info_nce(diag).into_scalar();
        assert!(loss < 1e-6, "{loss}");
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((learning_rate(0, 100, 10, 1.0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(9, 100, 10, 1.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(10, 100, 10, 1.0) - 1.0).abs() < 1e-12);
        assert!(learning_rate(55, 100, 10, 1.0) < 0.51 && learning_rate(55, 100, 10, 1.0) > 0.49);
        assert!(learning_rate(100, 100, 10, 1.0).abs() < 1e-12);
    }
}
