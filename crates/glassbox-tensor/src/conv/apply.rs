//! Filters applied to images: one batched candle `conv2d` call for a whole bank, max pooling, where a
//! response is largest, and transposed convolution by hand (zeros inserted, rings of zeros, a valid
//! convolution with the flipped kernel).

use candle_core::{DType, Device, Tensor, D};

use super::filters::{bank, Filter};
use super::shape::{output_shape, ConvSpec, Padding};
use crate::{Error, Result};

/// Convolves (correlates) a `(C, H, W)` image with a `(K, C, kh, kw)` bank in one `conv2d` call: the result
/// is `(K, H', W')`, one output channel per filter, with `(H', W')` = [`output_shape`]. `spec` must not be
/// transposed.
pub fn convolve(image: &Tensor, bank: &Tensor, spec: &ConvSpec) -> Result<Tensor> {
    let (c, h, w) = image
        .dims3()
        .map_err(|_| Error::shape("image to convolve", image.dims(), "(C, H, W)"))?;
    let (k, kc, kh, kw) = bank
        .dims4()
        .map_err(|_| Error::shape("filter bank", bank.dims(), "(K, C, kh, kw)"))?;
    if kc != c || (kh, kw) != spec.kernel || spec.transposed {
        return Err(Error::shape(
            "filter bank",
            bank.dims(),
            format!(
                "(K, {c}, {}, {}) for a {c}-channel image and a non-transposed {:?}",
                spec.kernel.0, spec.kernel.1, spec
            ),
        ));
    }
    let (oh, ow) = output_shape((h, w), spec)?;
    let bank = bank.to_dtype(image.dtype())?.to_device(image.device())?;
    let out = image
        .unsqueeze(0)?
        .conv2d(&bank, spec.rings()?, spec.stride, spec.dilation, 1)?
        .squeeze(0)?;
    debug_assert_eq!(out.dims(), &[k, oh, ow]);
    Ok(out)
}

/// [`convolve`] with named filters (all the same size), stride 1, no dilation.
pub fn convolve_filters(image: &Tensor, filters: &[Filter], padding: Padding) -> Result<Tensor> {
    let b = bank(filters, image.device())?;
    let (kh, kw) = (filters[0].height, filters[0].width);
    convolve(image, &b, &ConvSpec::new(kh, kw).padding(padding))
}

/// The maximum over non-overlapping `size` x `size` blocks of `(K, H, W)` maps: `(K, H / size, W / size)`
/// (rows and columns left over are dropped).
pub fn max_pool(maps: &Tensor, size: usize) -> Result<Tensor> {
    if maps.rank() != 3 || size == 0 {
        return Err(Error::shape(
            format!("maps to pool by {size}"),
            maps.dims(),
            "(K, H, W) and a block size of at least 1",
        ));
    }
    Ok(maps.unsqueeze(0)?.max_pool2d(size)?.squeeze(0)?)
}

/// The `(row, column)` positions where a `(H, W)` (or `(1, H, W)`) response reaches its maximum (within
/// 1e-4), row by row, and that maximum.
pub fn matches(response: &Tensor) -> Result<(f32, Vec<(usize, usize)>)> {
    let map = match response.rank() {
        2 => response.clone(),
        3 if response.dim(0)? == 1 => response.squeeze(0)?,
        _ => return Err(Error::shape("response map", response.dims(), "(H, W)")),
    };
    let rows = map.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let max = rows
        .iter()
        .flatten()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let positions = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter(move |(_, v)| **v >= max - 1e-4)
                .map(move |(c, _)| (r, c))
        })
        .collect();
    Ok((max, positions))
}

/// A `(H, W)` map with `between` zeros inserted between neighbouring elements and `rings` rings of zeros
/// around: `((H - 1)(between + 1) + 1 + 2 rings, ...)`. The first step of a transposed convolution by hand.
pub fn insert_zeros(map: &Tensor, between: usize, rings: usize) -> Result<Tensor> {
    let (h, w) = map
        .dims2()
        .map_err(|_| Error::shape("map to spread out", map.dims(), "(H, W)"))?;
    let values = map.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let step = between + 1;
    let (oh, ow) = (
        (h - 1) * step + 1 + 2 * rings,
        (w - 1) * step + 1 + 2 * rings,
    );
    let mut out = vec![0f32; oh * ow];
    for (r, row) in values.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[(rings + r * step) * ow + rings + c * step] = *v;
        }
    }
    Ok(Tensor::from_vec(out, (oh, ow), &Device::Cpu)?.to_device(map.device())?)
}

/// Transposed convolution of a `(H, W)` map with a `(kh, kw)` kernel and a stride, by hand: zeros inserted
/// (`stride - 1` between elements), `k - 1` rings of zeros, then a valid convolution with the kernel
/// flipped in both directions. Equals candle's `conv_transpose2d` with no padding.
pub fn conv_transpose_by_hand(map: &Tensor, kernel: &Tensor, stride: usize) -> Result<Tensor> {
    let (kh, kw) = kernel
        .dims2()
        .map_err(|_| Error::shape("kernel", kernel.dims(), "(kh, kw)"))?;
    if kh != kw || stride == 0 {
        return Err(Error::shape(
            "kernel of a transposed convolution by hand",
            kernel.dims(),
            "square, with a stride of at least 1",
        ));
    }
    let field = insert_zeros(map, stride - 1, kh - 1)?;
    let flipped = flip(kernel)?;
    let out = convolve(
        &field.unsqueeze(0)?,
        &flipped.unsqueeze(0)?.unsqueeze(0)?,
        &ConvSpec::new(kh, kw),
    )?;
    Ok(out.squeeze(0)?)
}

/// A `(H, W)` kernel turned by 180 degrees.
pub fn flip(kernel: &Tensor) -> Result<Tensor> {
    let (h, w) = kernel.dims2()?;
    let rev = |n: usize| {
        Tensor::from_vec(
            (0..n as u32).rev().collect::<Vec<u32>>(),
            n,
            kernel.device(),
        )
    };
    Ok(kernel
        .index_select(&rev(h)?, 0)?
        .index_select(&rev(w)?, D::Minus1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::filters;

    fn t2(rows: &[&[f32]]) -> Tensor {
        let h = rows.len();
        let w = rows[0].len();
        Tensor::from_vec(rows.concat(), (h, w), &Device::Cpu).unwrap()
    }

    fn v2(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2::<f32>().unwrap()
    }

    /// A 5x5 input 1..25 row by row.
    fn five() -> Tensor {
        Tensor::arange(1f32, 26f32, &Device::Cpu)
            .unwrap()
            .reshape((5, 5))
            .unwrap()
    }

    #[test]
    fn valid_5x5_with_3x3_gives_3x3_exactly() {
        let k = filters::horizontal_edge();
        let out = convolve_filters(&five().unsqueeze(0).unwrap(), &[k], Padding::Valid).unwrap();
        assert_eq!(out.dims(), &[1, 3, 3]);
        // Rows above minus rows below, three wide: always (3 x 1..) - (3 x 11..) = -30.
        assert_eq!(v2(&out.squeeze(0).unwrap()), vec![vec![-30.0; 3]; 3]);
        let ones = filters::Filter::from_rows("ones", &[[1.0; 3]; 3]);
        let out = convolve_filters(&five().unsqueeze(0).unwrap(), &[ones], Padding::Valid).unwrap();
        assert_eq!(
            v2(&out.squeeze(0).unwrap()),
            vec![
                vec![63.0, 72.0, 81.0],
                vec![108.0, 117.0, 126.0],
                vec![153.0, 162.0, 171.0]
            ]
        );
    }

    #[test]
    fn seven_by_seven_gives_5x5_and_same_padding_keeps_5x5() {
        let x = Tensor::ones((1, 7, 7), DType::F32, &Device::Cpu).unwrap();
        let ones = filters::Filter::from_rows("ones", &[[1.0; 3]; 3]);
        let out = convolve_filters(&x, std::slice::from_ref(&ones), Padding::Valid).unwrap();
        assert_eq!(v2(&out.squeeze(0).unwrap()), vec![vec![9.0; 5]; 5]);
        // One ring of zeros: corners see 4 ones, edges 6, the inside 9.
        let x = Tensor::ones((1, 5, 5), DType::F32, &Device::Cpu).unwrap();
        let out = convolve_filters(&x, std::slice::from_ref(&ones), Padding::Same).unwrap();
        let edge = vec![4.0, 6.0, 6.0, 6.0, 4.0];
        let inner = vec![6.0, 9.0, 9.0, 9.0, 6.0];
        assert_eq!(
            v2(&out.squeeze(0).unwrap()),
            vec![edge.clone(), inner.clone(), inner.clone(), inner, edge]
        );
        // Full: 7x7, the corners overlap one pixel.
        let out = convolve_filters(&x, std::slice::from_ref(&ones), Padding::Full).unwrap();
        let v = v2(&out.squeeze(0).unwrap());
        assert_eq!(v.len(), 7);
        assert_eq!(v[0], vec![1.0, 2.0, 3.0, 3.0, 3.0, 2.0, 1.0]);
        assert_eq!(v[3], vec![3.0, 6.0, 9.0, 9.0, 9.0, 6.0, 3.0]);
        // Stride 2 on the 5x5 1..25: the valid 3x3 sums at positions 0 and 2.
        let b = filters::bank(&[ones], &Device::Cpu).unwrap();
        let out = convolve(
            &five().unsqueeze(0).unwrap(),
            &b,
            &ConvSpec::new(3, 3).stride(2),
        )
        .unwrap();
        assert_eq!(
            v2(&out.squeeze(0).unwrap()),
            vec![vec![63.0, 81.0], vec![153.0, 171.0]]
        );
    }

    #[test]
    fn transposed_by_hand_is_a_9x9_field_and_a_7x7_output_equal_to_candle() {
        let x = t2(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], &[7.0, 8.0, 9.0]]);
        let field = insert_zeros(&x, 1, 2).unwrap();
        assert_eq!(field.dims(), &[9, 9]);
        let f = v2(&field);
        assert_eq!(f[0], vec![0.0; 9]);
        assert_eq!(f[1], vec![0.0; 9]);
        assert_eq!(f[2], vec![0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0]);
        assert_eq!(f[3], vec![0.0; 9]);
        assert_eq!(f[6], vec![0.0, 0.0, 7.0, 0.0, 8.0, 0.0, 9.0, 0.0, 0.0]);
        let k = t2(&[&[1.0, 2.0, 0.0], &[0.0, 1.0, 0.0], &[0.0, 0.0, -1.0]]);
        let by_hand = conv_transpose_by_hand(&x, &k, 2).unwrap();
        assert_eq!(by_hand.dims(), &[7, 7]);
        let candle = x
            .unsqueeze(0)
            .unwrap()
            .unsqueeze(0)
            .unwrap()
            .conv_transpose2d(&k.unsqueeze(0).unwrap().unsqueeze(0).unwrap(), 0, 0, 2, 1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap();
        assert_eq!(v2(&by_hand), v2(&candle));
        // Each input element stamps the kernel at twice its position: element 1 at (0, 0).
        assert_eq!(v2(&by_hand)[0], vec![1.0, 2.0, 2.0, 4.0, 3.0, 6.0, 0.0]);
    }

    #[test]
    fn several_filters_give_one_channel_each_in_one_call() {
        let x = five().unsqueeze(0).unwrap();
        let bank = filters::three_by_three();
        let all = convolve_filters(&x, &bank, Padding::Valid).unwrap();
        assert_eq!(all.dims(), &[5, 3, 3]);
        for (i, f) in bank.iter().enumerate() {
            let one = convolve_filters(&x, std::slice::from_ref(f), Padding::Valid).unwrap();
            assert_eq!(
                v2(&all.get(i).unwrap()),
                v2(&one.squeeze(0).unwrap()),
                "{}",
                f.name
            );
        }
        // The vertical edge on a left-to-right ramp: (c) - (c + 2), three rows: -6.
        assert_eq!(v2(&all.get(2).unwrap()), vec![vec![-6.0; 3]; 3]);
    }

    #[test]
    fn matches_and_pooling() {
        let r = t2(&[&[0.0, 3.0, 1.0], &[3.0, -1.0, 2.0]]);
        assert_eq!(matches(&r).unwrap(), (3.0, vec![(0, 1), (1, 0)]));
        let m = Tensor::arange(0f32, 16f32, &Device::Cpu)
            .unwrap()
            .reshape((1, 4, 4))
            .unwrap();
        let p = max_pool(&m, 2).unwrap();
        assert_eq!(
            v2(&p.squeeze(0).unwrap()),
            vec![vec![5.0, 7.0], vec![13.0, 15.0]]
        );
        assert_eq!(
            v2(&flip(&t2(&[&[1.0, 2.0], &[3.0, 4.0]])).unwrap()),
            vec![vec![4.0, 3.0], vec![2.0, 1.0]]
        );
    }
}
