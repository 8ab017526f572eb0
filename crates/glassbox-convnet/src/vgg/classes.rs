//! The 1000 ImageNet-1k class names (index 0 = tench), copied from the course data into the crate.

use std::sync::OnceLock;

const CLASSES: &str = include_str!("../../assets/imagenet-classes.txt");

/// The class names, in class-index order.
pub fn imagenet_classes() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        CLASSES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// The `k` most probable classes of one row of logits: `(class, probability)` by softmax, best first.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| (i, (exp[i] / total) as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_names_in_order() {
        let c = imagenet_classes();
        assert_eq!(c.len(), 1000);
        assert_eq!(c[0], "tench");
        assert_eq!(c[285], "Egyptian cat");
    }

    #[test]
    fn top_k_by_hand() {
        // softmax of (0, ln 3, 0) = (0.2, 0.6, 0.2).
        let t = top_k(&[0.0, 3f32.ln(), 0.0], 2);
        assert_eq!(t[0].0, 1);
        assert!((t[0].1 - 0.6).abs() < 1e-6);
        assert_eq!(t[1].0, 0);
    }
}
