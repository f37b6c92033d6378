use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

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

/// Symmetric InfoNCE against a frozen anchor whose embeddings of the whole training set are
/// known (`bank`): the `x → anchor` half is a choice among all of them, `targets` naming each
/// row's positive; the `anchor → x` half stays over the batch (`logits = x·anchorᵀ`), since
/// only the batch's `x` are known. With the batch's anchors as the bank it is
/// [`symmetric_info_nce`].
///
/// # Shapes
/// - x: `[batch, dim]` (scaled embeddings)
/// - logits: `[batch, batch]`
/// - bank: `[rows, dim]`
/// - targets: `[batch]`, in `0..rows`
/// - output: `[1]`
pub fn bank_info_nce(
    x: Tensor<2>,
    logits: Tensor<2>,
    bank: Tensor<2>,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    let [n, _] = logits.dims();
    let eye = Tensor::<2>::eye(n, &logits.device());
    let x_to_bank = log_softmax(x.matmul(bank.transpose()), 1)
        .gather(1, targets.unsqueeze_dim(1))
        .sum();
    let anchor_to_x = (log_softmax(logits, 0) * eye).sum();
    (x_to_bank + anchor_to_x).mul_scalar(-0.5 / n as f64)
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

    fn matrix(rows: &[[f32; 3]], device: &burn::tensor::Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 3]), device)
    }

    #[test]
    fn bank_info_nce_is_symmetric_info_nce_when_the_bank_is_the_batch() {
        let device = crate::backend::ndarray_device();
        let x = matrix(
            &[[2.0, 0.5, -1.0], [0.3, 1.5, 0.2], [-0.7, 0.1, 1.1]],
            &device,
        );
        let anchor = matrix(
            &[[0.9, 0.1, -0.4], [0.2, 0.8, 0.1], [-0.5, 0.3, 0.8]],
            &device,
        );
        let logits = x.clone().matmul(anchor.clone().transpose());
        let plain: f32 = symmetric_info_nce(logits.clone()).into_scalar();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2], [3]), &device);
        let banked: f32 = bank_info_nce(x, logits, anchor, ids).into_scalar();
        assert!((plain - banked).abs() < 1e-6, "{plain} vs {banked}");
    }

    #[test]
    fn bank_negatives_beyond_the_batch_raise_the_loss_and_order_matters() {
        let device = crate::backend::ndarray_device();
        let x = matrix(&[[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]], &device);
        let anchor = matrix(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], &device);
        let logits = x.clone().matmul(anchor.clone().transpose());
        let loss = |bank: &[[f32; 3]], ids: Vec<i64>| -> f32 {
            let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [2]), &device);
            bank_info_nce(x.clone(), logits.clone(), matrix(bank, &device), ids).into_scalar()
        };
        let batch_only = loss(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], vec![0, 1]);
        // A bank row close to the first positive is a hard negative the batch did not have.
        let hard = [[0.0, 1.0, 0.0], [0.95, 0.3, 0.0], [1.0, 0.0, 0.0]];
        assert!(loss(&hard, vec![2, 0]) > batch_only + 0.1);
        // Pointing the targets at the wrong rows costs more still.
        assert!(loss(&hard, vec![0, 2]) > loss(&hard, vec![2, 0]) + 1.0);
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
