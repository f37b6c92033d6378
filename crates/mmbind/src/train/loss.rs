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

/// Symmetric InfoNCE with soft targets: `targets[i][j]` is how much image `i` should pick
/// caption `j` (rows sum to 1), and its transpose how much caption `j` should pick image `i`
/// (the targets of [`super::ContentSets::targets`] are symmetric in content, so the transpose
/// is the other direction's). Cross-entropy in both directions, averaged. With the identity
/// as targets it is [`symmetric_info_nce`], to the bit.
///
/// # Shapes
/// - logits: `[batch, batch]`
/// - targets: `[batch, batch]`
/// - output: `[1]`
pub fn graded_info_nce(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    let a_to_b = (log_softmax(logits.clone(), 1) * targets.clone()).sum();
    let b_to_a = (log_softmax(logits, 0) * targets.transpose()).sum();
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
    fn graded_loss_with_identity_targets_is_the_clip_loss_to_the_bit() {
        let device = crate::backend::ndarray_device();
        let logits: Vec<f32> = (0..25)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.7)
            .collect();
        let logits = Tensor::<2>::from_data(TensorData::new(logits, [5, 5]), &device);
        let clip: f32 = symmetric_info_nce(logits.clone()).into_scalar();
        let graded: f32 = graded_info_nce(logits, Tensor::eye(5, &device)).into_scalar();
        assert_eq!(clip.to_bits(), graded.to_bits(), "{clip} vs {graded}");
    }

    /// Unit rows of `[n, dim]`.
    fn unit_rows(rows: Vec<Vec<f32>>, device: &burn::tensor::Device) -> Tensor<2> {
        let (n, dim) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| {
                let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
                r.iter().map(move |x| x / norm)
            })
            .collect();
        Tensor::from_data(TensorData::new(flat, [n, dim]), device)
    }

    #[test]
    fn additive_embeddings_reach_the_graded_loss_floor_and_one_direction_per_set_does_not() {
        use crate::dataset::{Row, Split};
        use crate::train::{ContentSets, Sets};
        let device = crate::backend::ndarray_device();
        // Four concepts; a batch of one- and two-concept scenes, some sets repeated.
        let scenes: Vec<Vec<usize>> = vec![
            vec![0],
            vec![1],
            vec![2],
            vec![3],
            vec![0, 1],
            vec![0, 2],
            vec![1, 3],
            vec![2, 3],
            vec![0],
            vec![1, 2],
            vec![0, 3],
            vec![0, 1],
        ];
        let rows: Vec<Row> = scenes
            .iter()
            .enumerate()
            .map(|(i, s)| Row {
                id: format!("r{i}"),
                scene: format!("r{i}"),
                split: Split::Train,
                views: Default::default(),
                label: None,
                concepts: s.iter().map(|c| format!("c{c}")).collect(),
            })
            .collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let sets = ContentSets::of(&refs, Sets::Auto).unwrap();
        assert_eq!(sets.source, Sets::Concepts);
        let n = scenes.len();
        let batch: Vec<usize> = (0..n).collect();
        let scale = 10.0;
        let q = sets.targets(&batch, scale);
        let entropy: f32 = -q
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|p| p * p.ln())
            .sum::<f32>()
            / n as f32;
        let targets = Tensor::<2>::from_data(TensorData::new(q, [n, n]), &device);
        let loss = |e: &Tensor<2>, tau: f32| -> f32 {
            let logits = e.clone().matmul(e.clone().transpose()).mul_scalar(tau);
            graded_info_nce(logits, targets.clone()).into_scalar()
        };
        // Additive: a scene is the normalised sum of its concepts' (orthogonal) directions.
        let additive = unit_rows(
            scenes
                .iter()
                .map(|s| {
                    (0..4)
                        .map(|c| f32::from(u8::from(s.contains(&c))))
                        .collect()
                })
                .collect(),
            &device,
        );
        let at_floor = loss(&additive, scale);
        assert!(
            (at_floor - entropy).abs() < 1e-4,
            "{at_floor} vs floor {entropy}"
        );
        // A simplex: every distinct set its own orthogonal direction, at any temperature.
        let mut distinct = scenes.clone();
        distinct.sort();
        distinct.dedup();
        let simplex = unit_rows(
            scenes
                .iter()
                .map(|s| {
                    let k = distinct.iter().position(|d| d == s).unwrap();
                    (0..distinct.len())
                        .map(|j| f32::from(u8::from(j == k)))
                        .collect()
                })
                .collect(),
            &device,
        );
        let best = [2.0, 5.0, 10.0, 20.0, 50.0]
            .iter()
            .map(|&tau| loss(&simplex, tau))
            .fold(f32::INFINITY, f32::min);
        assert!(best > entropy + 0.1, "simplex {best} vs floor {entropy}");
        // One-hot targets prefer the simplex: what CLIP's loss drives a small world to.
        let clip = |e: &Tensor<2>| -> f32 {
            symmetric_info_nce(e.clone().matmul(e.clone().transpose()).mul_scalar(50.0))
                .into_scalar()
        };
        assert!(
            clip(&simplex) < clip(&additive),
            "{} vs {}",
            clip(&simplex),
            clip(&additive)
        );
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
