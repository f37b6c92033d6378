//! Vector maths on embeddings, in one place: inner products and unit vectors. (The index's
//! scans have their own SIMD kernels, `mmbind_index::kernels`; these are for a few vectors
//! at a time, summed in order so results repeat exactly.)

/// Inner product of two equally long vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `|v|`.
pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// `v / |v|`, or `None` when `v` is zero or not finite (nothing to point in a direction).
pub fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let n = norm(v);
    (n.is_finite() && n > 1e-12).then(|| v.iter().map(|x| x / n).collect())
}

/// `v / |v|`, a zero vector staying zero: for metrics, where an input must keep its place.
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = norm(v).max(1e-12);
    v.iter().map(|x| x / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_and_their_edge_cases() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
        assert_eq!(unit(&[3.0, 4.0]), Some(vec![0.6, 0.8]));
        assert_eq!(normalized(&[3.0, 4.0]), vec![0.6, 0.8]);
        assert_eq!(unit(&[0.0, 0.0]), None);
        assert_eq!(unit(&[f32::NAN, 1.0]), None);
        assert_eq!(unit(&[f32::INFINITY, 1.0]), None);
        assert_eq!(normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
