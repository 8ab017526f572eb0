//! Piecewise-constant distributions (pbrt's `PiecewiseConstant1D/2D`): a patch of the Q table, a triangle of a
//! light, a pixel of the sky.

/// A discrete distribution over `weights.len()` cells, sampled by inverting its CDF.
#[derive(Debug, Clone, Default)]
pub struct Distribution1D {
    /// `cdf[i]` = sum of the first `i` weights over the total; `cdf.len() == n + 1`, last 1.
    cdf: Vec<f32>,
    total: f32,
}

impl Distribution1D {
    /// Weights must be non-negative and finite; all zero gives the uniform distribution.
    pub fn new(weights: &[f32]) -> Self {
        let mut cdf = Vec::with_capacity(weights.len() + 1);
        let mut sum = 0.0f64;
        cdf.push(0.0);
        for &w in weights {
            sum += w.max(0.0) as f64;
            cdf.push(sum as f32);
        }
        let total = sum as f32;
        if total > 0.0 {
            for c in cdf.iter_mut() {
                *c /= total;
            }
        } else {
            let n = weights.len() as f32;
            for (i, c) in cdf.iter_mut().enumerate() {
                *c = i as f32 / n;
            }
        }
        *cdf.last_mut().expect("one entry") = 1.0;
        Distribution1D { cdf, total }
    }

    /// Entries the distribution chooses among.
    pub fn len(&self) -> usize {
        self.cdf.len() - 1
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum of the weights it was built from.
    pub fn total(&self) -> f32 {
        self.total
    }

    /// The probability of cell `i`.
    pub fn probability(&self, i: usize) -> f32 {
        self.cdf[i + 1] - self.cdf[i]
    }

    /// A cell drawn with `u` in [0, 1), its probability, and `u` rescaled to [0, 1) within the cell (so one
    /// number picks both the cell and a position in it).
    pub fn sample(&self, u: f32) -> (usize, f32, f32) {
        // The last cell whose cdf start is <= u, skipping empty cells.
        let i = self
            .cdf
            .partition_point(|&c| c <= u)
            .saturating_sub(1)
            .min(self.len() - 1);
        let p = self.probability(i);
        let rest = if p > 0.0 {
            ((u - self.cdf[i]) / p).clamp(0.0, 0.999_999_94)
        } else {
            0.5
        };
        (i, p, rest)
    }
}

/// A 2-D piecewise-constant density on [0, 1)^2 from a `width x height` grid of weights: a marginal over rows,
/// a conditional per row.
#[derive(Debug, Clone)]
pub struct Distribution2D {
    rows: Vec<Distribution1D>,
    marginal: Distribution1D,
    width: usize,
    height: usize,
}

impl Distribution2D {
    /// `weights` row-major, `height` rows of `width`.
    pub fn new(weights: &[f32], width: usize, height: usize) -> Self {
        assert_eq!(
            weights.len(),
            width * height,
            "weights must be width * height"
        );
        let rows: Vec<Distribution1D> = weights.chunks(width).map(Distribution1D::new).collect();
        let marginal =
            Distribution1D::new(&rows.iter().map(Distribution1D::total).collect::<Vec<_>>());
        Distribution2D {
            rows,
            marginal,
            width,
            height,
        }
    }

    /// A point in [0, 1)^2 and its density with respect to area on the unit square.
    pub fn sample(&self, u: (f32, f32)) -> ((f32, f32), f32) {
        let (row, _, v) = self.marginal.sample(u.1);
        let (col, _, w) = self.rows[row].sample(u.0);
        let point = (
            (col as f32 + w) / self.width as f32,
            (row as f32 + v) / self.height as f32,
        );
        // The density where the point landed: f32 rounding can carry a point at a cell's far edge into the
        // next cell, and callers must see the same density `pdf` gives for that point.
        (point, self.pdf(point.0, point.1))
    }

    /// The density at `(x, y)` in [0, 1)^2.
    pub fn pdf(&self, x: f32, y: f32) -> f32 {
        let col = ((x * self.width as f32) as usize).min(self.width - 1);
        let row = ((y * self.height as f32) as usize).min(self.height - 1);
        self.marginal.probability(row)
            * self.rows[row].probability(col)
            * (self.width * self.height) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_weights_and_skip_empty_cells() {
        let d = Distribution1D::new(&[1.0, 0.0, 3.0]);
        assert_eq!(d.probability(1), 0.0);
        let mut counts = [0usize; 3];
        let n = 40_000;
        for k in 0..n {
            let (i, p, rest) = d.sample((k as f32 + 0.5) / n as f32);
            assert!(p > 0.0 && (0.0..1.0).contains(&rest));
            counts[i] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(
            (counts[2] as f32 / n as f32 - 0.75).abs() < 1e-3,
            "{counts:?}"
        );
    }

    #[test]
    fn density_2d_matches_the_weights_and_integrates_to_one() {
        let w = [1.0, 2.0, 0.0, 5.0, 1.0, 1.0];
        let d = Distribution2D::new(&w, 3, 2);
        let total: f32 = w.iter().sum();
        // Density of cell (2, 1) = weight / total * cells.
        assert!((d.pdf(0.9, 0.9) - 1.0 / total * 6.0).abs() < 1e-5);
        let (p, pdf) = d.sample((0.99, 0.01));
        assert!(
            (pdf - d.pdf(p.0, p.1)).abs() < 1e-4,
            "{pdf} vs {}",
            d.pdf(p.0, p.1)
        );
        let mut integral = 0.0f64;
        for i in 0..300 {
            for j in 0..200 {
                integral += d.pdf((i as f32 + 0.5) / 300.0, (j as f32 + 0.5) / 200.0) as f64;
            }
        }
        assert!((integral / 60_000.0 - 1.0).abs() < 1e-4, "{integral}");
    }
}
