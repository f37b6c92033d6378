//! The backward passes of the CPU path's kernels, for training: linear layers, LayerNorm,
//! GELU and the output's normalisation, on the same row-major `f32` rows as the forward
//! kernels. Each forward used in training records what its backward needs (a "tape").
//!
//! Gradients of parameters are accumulated (`+=`) into buffers the caller zeroes once per
//! step; gradients of activations are written or added as each function says, so that a
//! residual connection costs no extra buffer.

use super::kernels::{Dense, Norm, View, for_rows, matmul, matmul_at};
use super::rows::{gelu_backward_row, lanes};

/// What LayerNorm's backward needs: the normalised rows before the affine step, and
/// `1/σ` per row.
pub struct NormTape {
    pub xhat: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// Gradients of a LayerNorm's weight and bias.
#[derive(Clone)]
pub struct NormGrads {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl NormGrads {
    pub fn zeros(d: usize) -> Self {
        Self {
            weight: vec![0.0; d],
            bias: vec![0.0; d],
        }
    }
}

/// Gradients of a linear layer's weight (`[d_in, d_out]`, as stored) and bias.
#[derive(Clone)]
pub struct DenseGrads {
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
}

impl DenseGrads {
    pub fn zeros(dense: &Dense) -> Self {
        Self {
            weight: vec![0.0; dense.d_in * dense.d_out],
            bias: dense.bias.as_ref().map(|b| vec![0.0; b.len()]),
        }
    }
}

impl Norm {
    /// LayerNorm in place (the same operations, in the same order, as `forward_in_place`),
    /// recording the tape.
    pub fn forward_train(&self, x: &mut [f32]) -> NormTape {
        let d = self.weight.len();
        let rows = x.len() / d;
        let mut xhat = vec![0.0f32; x.len()];
        let mut rstd = vec![0.0f32; rows];
        for ((row, hat), r) in x
            .chunks_exact_mut(d)
            .zip(xhat.chunks_exact_mut(d))
            .zip(&mut rstd)
        {
            let n = d as f32;
            let mean = lanes(row, 0.0, |a, b| a + b) / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let denom = (var + self.eps).sqrt();
            *r = 1.0 / denom;
            for (((v, h), w), b) in row.iter_mut().zip(hat).zip(&self.weight).zip(&self.bias) {
                *h = (*v - mean) / denom;
                *v = *h * w + b;
            }
        }
        NormTape { xhat, rstd }
    }

    /// `dx += ∂L/∂x` given `dy = ∂L/∂y`; the weight's and bias's gradients into `grads`.
    pub fn backward(&self, tape: &NormTape, dy: &[f32], dx: &mut [f32], grads: &mut NormGrads) {
        let d = self.weight.len();
        let n = d as f32;
        let mut g = vec![0.0f32; d];
        for (((dy, hat), dx), r) in dy
            .chunks_exact(d)
            .zip(tape.xhat.chunks_exact(d))
            .zip(dx.chunks_exact_mut(d))
            .zip(&tape.rstd)
        {
            let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
            for j in 0..d {
                grads.weight[j] += dy[j] * hat[j];
                grads.bias[j] += dy[j];
                g[j] = dy[j] * self.weight[j];
                sum_g += g[j];
                sum_gx += g[j] * hat[j];
            }
            let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
            for j in 0..d {
                dx[j] += r * (g[j] - mean_g - hat[j] * mean_gx);
            }
        }
    }
}

impl Dense {
    /// Given `x` (`[rows, d_in]`, the forward's input) and `dy` (`[rows, d_out]`): the
    /// weight's and bias's gradients into `grads`, and `∂L/∂x` written to `dx` when asked.
    pub fn backward(
        &self,
        x: &[f32],
        dy: &[f32],
        rows: usize,
        dx: Option<&mut [f32]>,
        grads: &mut DenseGrads,
    ) {
        assert_eq!(x.len(), rows * self.d_in);
        assert_eq!(dy.len(), rows * self.d_out);
        // dW += xᵀ·dy
        let w = &mut grads.weight;
        let (d_in, d_out) = (self.d_in, self.d_out);
        matmul_at(
            View::dense(x, rows, d_in),
            View::dense(dy, rows, d_out),
            w,
            d_out,
            true,
            true,
        );
        if let Some(b) = &mut grads.bias {
            for row in dy.chunks_exact(d_out) {
                b.iter_mut().zip(row).for_each(|(g, v)| *g += v);
            }
        }
        if let Some(dx) = dx {
            // dx = dy·Wᵀ
            matmul(
                View::dense(dy, rows, d_out),
                View::dense(&self.weight, d_in, d_out),
                true,
                dx,
                0,
                d_in,
                false,
                1.0,
                true,
            );
        }
    }
}

/// `dh = dg · GELU'(h)` in place on `dg`, `h` the GELU's input: `Φ(h) + h·φ(h)`.
pub fn gelu_backward(h: &[f32], dg: &mut [f32]) {
    gelu_backward_row(h, dg)
}

/// GELU in place that keeps its input (the backward needs it).
pub fn gelu_train(x: &mut [f32], width: usize) -> Vec<f32> {
    let input = x.to_vec();
    for_rows(x, width, super::rows::gelu_row);
    input
}

/// The output's `y = s · z / max(‖z‖, ε)` per row: `∂L/∂z` from `∂L/∂y`, given `z`.
pub fn normalize_backward(
    z: &[f32],
    dy: &[f32],
    width: usize,
    eps: f32,
    scale: Option<f32>,
) -> Vec<f32> {
    let s = scale.unwrap_or(1.0);
    let mut dz = vec![0.0f32; z.len()];
    for ((z, dy), dz) in z
        .chunks_exact(width)
        .zip(dy.chunks_exact(width))
        .zip(dz.chunks_exact_mut(width))
    {
        let norm = z.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm <= eps {
            // The clamp holds: y = s·z/ε, linear in z.
            dz.iter_mut().zip(dy).for_each(|(d, g)| *d = s * g / eps);
            continue;
        }
        let dot: f32 = z.iter().zip(dy).map(|(a, b)| a * b).sum();
        let k = dot / (norm * norm);
        for ((d, &zi), &gi) in dz.iter_mut().zip(z).zip(dy) {
            *d = s * (gi - zi * k) / norm;
        }
    }
    dz
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `n` values in [−1, 1), a different sequence for each seed.
    pub(in crate::cpu) fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32 ^ seed).wrapping_mul(2654435761).rotate_left(13);
                (h % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// `Σ dy ⊙ f(x)`'s derivative along each input by central differences in f64.
    fn numeric(f: &dyn Fn(&[f64]) -> Vec<f64>, x: &[f32], dy: &[f32]) -> Vec<f64> {
        let loss = |x: &[f64]| -> f64 { f(x).iter().zip(dy).map(|(a, &b)| a * f64::from(b)).sum() };
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        (0..x.len())
            .map(|i| {
                let h = 1e-6;
                let (mut a, mut b) = (x64.clone(), x64.clone());
                a[i] += h;
                b[i] -= h;
                (loss(&a) - loss(&b)) / (2.0 * h)
            })
            .collect()
    }

    fn close(got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(*g) - w).abs() <= tol * scale.max(1e-3),
                "element {i}: {g} against {w}"
            );
        }
    }

    #[test]
    fn layer_norm_backward_matches_numeric_derivatives() {
        let d = 24;
        let rows = 3;
        let norm = Norm {
            weight: values(d, 1).iter().map(|v| 1.0 + v).collect(),
            bias: values(d, 2),
            eps: 1e-5,
        };
        let x = values(rows * d, 3);
        let dy = values(rows * d, 4);
        let mut y = x.clone();
        let tape = norm.forward_train(&mut y);
        assert_eq!(
            y,
            norm.forward(&x),
            "the training forward is the inference forward"
        );
        let mut dx = vec![0.0; x.len()];
        let mut grads = NormGrads::zeros(d);
        norm.backward(&tape, &dy, &mut dx, &mut grads);
        let f = |x: &[f64]| -> Vec<f64> {
            x.chunks(d)
                .flat_map(|row| {
                    let mean = row.iter().sum::<f64>() / d as f64;
                    let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                    let r = 1.0 / (var + 1e-5).sqrt();
                    row.iter()
                        .enumerate()
                        .map(|(j, v)| {
                            (v - mean) * r * f64::from(norm.weight[j]) + f64::from(norm.bias[j])
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        close(&dx, &numeric(&f, &x, &dy), 1e-4);
        // ∂L/∂bias = Σ_rows dy; ∂L/∂weight = Σ_rows dy·x̂.
        let db: Vec<f64> = (0..d)
            .map(|j| (0..rows).map(|r| f64::from(dy[r * d + j])).sum())
            .collect();
        close(&grads.bias, &db, 1e-6);
        let dw: Vec<f64> = (0..d)
            .map(|j| {
                (0..rows)
                    .map(|r| f64::from(dy[r * d + j]) * f64::from(tape.xhat[r * d + j]))
                    .sum()
            })
            .collect();
        close(&grads.weight, &dw, 1e-6);
    }

    #[test]
    fn linear_backward_matches_the_definition() {
        let (rows, d_in, d_out) = (5, 7, 3);
        let dense = Dense {
            weight: values(d_in * d_out, 5),
            bias: Some(values(d_out, 6)),
            d_in,
            d_out,
        };
        let x = values(rows * d_in, 7);
        let dy = values(rows * d_out, 8);
        let mut dx = vec![0.0; rows * d_in];
        let mut grads = DenseGrads::zeros(&dense);
        dense.backward(&x, &dy, rows, Some(&mut dx), &mut grads);
        for i in 0..d_in {
            for o in 0..d_out {
                let want: f32 = (0..rows).map(|r| x[r * d_in + i] * dy[r * d_out + o]).sum();
                assert!((grads.weight[i * d_out + o] - want).abs() < 1e-5);
            }
        }
        for r in 0..rows {
            for i in 0..d_in {
                let want: f32 = (0..d_out)
                    .map(|o| dy[r * d_out + o] * dense.weight[i * d_out + o])
                    .sum();
                assert!((dx[r * d_in + i] - want).abs() < 1e-5);
            }
        }
        for o in 0..d_out {
            let want: f32 = (0..rows).map(|r| dy[r * d_out + o]).sum();
            assert!((grads.bias.as_ref().unwrap()[o] - want).abs() < 1e-5);
        }
    }

    #[test]
    fn gelu_and_normalisation_backward_match_numeric_derivatives() {
        let x: Vec<f32> = values(40, 9).iter().map(|v| 4.0 * v).collect();
        let dy = values(40, 10);
        let mut dg = dy.clone();
        gelu_backward(&x, &mut dg);
        let gelu = |x: &[f64]| -> Vec<f64> {
            x.iter()
                .map(|&v| 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)))
                .collect()
        };
        close(&dg, &numeric(&gelu, &x, &dy), 1e-5);

        let width = 8;
        let dz = normalize_backward(&x, &dy, width, 1e-12, Some(5.0));
        let normalize = |x: &[f64]| -> Vec<f64> {
            x.chunks(width)
                .flat_map(|row| {
                    let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                    row.iter().map(move |v| 5.0 * v / n).collect::<Vec<_>>()
                })
                .collect()
        };
        close(&dz, &numeric(&normalize, &x, &dy), 1e-5);
    }
}
