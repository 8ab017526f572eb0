//! The course's named filters. Weights are listed row by row, channel after channel, and applied as
//! correlation (the filter is not flipped), like the course and like candle's `conv2d`.

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// One filter: a name and `channels` x `height` x `width` weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// The name figures and metrics use (`yellow`, `blur`, ...).
    pub name: String,
    /// Input channels it reads.
    pub channels: usize,
    /// Kernel rows.
    pub height: usize,
    /// Kernel columns.
    pub width: usize,
    /// `channels * height * width` weights, channel-major, then row by row.
    pub weights: Vec<f32>,
}

impl Filter {
    /// A filter from its weights; their number must be `channels * height * width`.
    pub fn new(
        name: impl Into<String>,
        channels: usize,
        height: usize,
        width: usize,
        weights: Vec<f32>,
    ) -> Result<Self> {
        let name = name.into();
        if channels * height * width == 0 || weights.len() != channels * height * width {
            return Err(Error::shape(
                format!("filter {name:?}"),
                &[weights.len()],
                format!("{channels} x {height} x {width} weights, at least one"),
            ));
        }
        Ok(Filter {
            name,
            channels,
            height,
            width,
            weights,
        })
    }

    /// A one-channel filter from its rows.
    pub fn from_rows<const W: usize>(name: &str, rows: &[[f32; W]]) -> Self {
        Filter::new(
            name,
            1,
            rows.len(),
            W,
            rows.iter().flatten().copied().collect(),
        )
        .expect("rows are rectangular and not empty")
    }

    /// The weights as a `(C, kh, kw)` tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            self.weights.clone(),
            (self.channels, self.height, self.width),
            device,
        )?)
    }

    /// The sum of the positive weights: the largest response on inputs in `0..=1`.
    pub fn max_response(&self) -> f32 {
        self.weights.iter().filter(|w| **w > 0.0).sum()
    }
}

/// Filters stacked as one `(K, C, kh, kw)` bank for a single `conv2d` call. All must have the same size.
pub fn bank(filters: &[Filter], device: &Device) -> Result<Tensor> {
    let first = filters
        .first()
        .ok_or_else(|| Error::conv("a filter bank needs at least one filter"))?;
    for f in filters {
        if (f.channels, f.height, f.width) != (first.channels, first.height, first.width) {
            return Err(Error::shape(
                format!("filter {:?} in a bank with {:?}", f.name, first.name),
                &[f.channels, f.height, f.width],
                format!("{:?}", [first.channels, first.height, first.width]),
            ));
        }
    }
    let tensors = filters
        .iter()
        .map(|f| f.to_tensor(device))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&tensors, 0)?)
}

/// The yellow detector: a 1x1 filter over R, G, B with weights +1, +1, -1. On colours in `0..=1` it gives
/// 2 for pure yellow (1, 1, 0), 1 for white, red or green, 0 for black, and -1 for pure blue.
pub fn yellow() -> Filter {
    Filter::new("yellow", 3, 1, 1, vec![1.0, 1.0, -1.0]).expect("3 weights")
}

/// The 3x3 box blur: every weight 1/9.
pub fn blur() -> Filter {
    Filter::from_rows("blur", &[[1.0 / 9.0; 3]; 3])
}

/// A horizontal edge: bright above, dark below.
pub fn horizontal_edge() -> Filter {
    Filter::from_rows(
        "horizontal edge",
        &[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]],
    )
}

/// A vertical edge: bright on the left, dark on the right.
pub fn vertical_edge() -> Filter {
    Filter::from_rows(
        "vertical edge",
        &[[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]],
    )
}

/// A vertical stripe one pixel wide: `[-1, 1, -1]` on every row.
pub fn vertical_stripe() -> Filter {
    Filter::from_rows("vertical stripe", &[[-1.0, 1.0, -1.0]; 3])
}

/// A diagonal line from top left to bottom right.
pub fn diagonal() -> Filter {
    Filter::from_rows(
        "diagonal",
        &[[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]],
    )
}

/// The five 3x3 filters of the lesson, in order: blur, horizontal edge, vertical edge, vertical stripe,
/// diagonal.
pub fn three_by_three() -> Vec<Filter> {
    vec![
        blur(),
        horizontal_edge(),
        vertical_edge(),
        vertical_stripe(),
        diagonal(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_stacks_filters_as_k_c_h_w() {
        let b = bank(&three_by_three(), &Device::Cpu).unwrap();
        assert_eq!(b.dims(), &[5, 1, 3, 3]);
        let rows = b
            .get(1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(rows, vec![vec![1.0, 1.0, 1.0], vec![0.0; 3], vec![-1.0; 3]]);
        assert_eq!(diagonal().max_response(), 3.0);
        assert_eq!(vertical_stripe().max_response(), 3.0);
    }

    #[test]
    fn bank_refuses_mixed_sizes() {
        let e = bank(&[blur(), yellow()], &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("yellow"), "{e}");
        assert!(Filter::new("x", 1, 2, 2, vec![1.0]).is_err());
    }
}
