//! Gradient ascent on an input image: the machinery behind filter visualization (Erhan et al. 2009;
//! Yosinski et al. 2015; the course's VGG16 filter grids) and, later, deep dreaming.
//!
//! A batch of images is pushed uphill on a per-image objective (one number per image, so one backward
//! pass serves a whole grid of filters). Each step divides the gradient by its root mean square, so
//! `step_size` is how far a typical pixel moves, whatever the layer's scale. The regularizers are
//! Yosinski et al.'s: random jitter (rolling the image a few pixels before each step, so the result
//! cannot rely on exact pixel positions), a Gaussian blur every few steps, and L2 decay towards grey.
//! Octaves start small and enlarge the image between rounds, so large structures form first.
//!
//! Deep dreaming (Mordvintsev et al. 2015) climbs from a photo instead of noise, and differs in two
//! ways, both options here: the step is divided by the mean absolute gradient ([`StepNorm::MeanAbs`],
//! as the original notebook does), and the octaves re-inject detail ([`Start::Photo`]): each octave
//! starts from the photo shrunk to its size plus what the dream added so far, enlarged, so the detail
//! that shrinking removed comes back instead of being blurred away by the enlargement.

use candle_core::{Result, Tensor, Var};
use rand::Rng;

/// How to climb.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AscentConfig {
    /// Gradient steps in each octave.
    pub steps: usize,
    /// How far (root mean square) the pixels move per step, in the image's units.
    pub step_size: f32,
    /// The largest random shift, in pixels, before each step (0: none).
    pub jitter: usize,
    /// Blur every this many steps (0: never), with a Gaussian of `blur_sigma` pixels.
    pub blur_every: usize,
    /// The blur's standard deviation, in pixels.
    pub blur_sigma: f32,
    /// Each step pulls the image this fraction of the way back to the middle of `range` (0: none).
    pub l2_decay: f32,
    /// Rounds of `steps`, each on an image `octave_scale` times larger than the last.
    pub octaves: usize,
    /// The size ratio of consecutive octaves (above 1).
    pub octave_scale: f32,
    /// The valid pixel range; the image is clamped to it after every step.
    pub range: (f32, f32),
    /// What the gradient is divided by before each step.
    pub normalize: StepNorm,
}

/// What a step divides the gradient by, per image, so that `step_size` does not depend on the scale of
/// the objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepNorm {
    /// Root mean square: `step_size` is how far a typical pixel moves (filter visualization).
    #[default]
    Rms,
    /// Mean absolute value (the DeepDream notebook's): the same idea, but a few large gradients
    /// weigh less, so steps are a little longer where the gradient is spiky.
    MeanAbs,
}

/// Where a climb starts.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// This image, of the first octave's size (see [`AscentConfig::octave_sizes`]), enlarged between
    /// octaves until it is `size` (height, width).
    Image {
        /// The starting image, `(N, C, h, w)`.
        image: &'a Tensor,
        /// The final (height, width).
        size: (usize, usize),
    },
    /// A photo of the final size. Each octave starts from it shrunk to the octave's size plus the
    /// detail the dream added at the octave before (dream minus that octave's shrunk photo), enlarged.
    Photo(&'a Tensor),
}

impl Default for AscentConfig {
    /// Images in `0..=255`, as the VGG lessons feed them.
    fn default() -> Self {
        AscentConfig {
            steps: 20,
            step_size: 2.0,
            jitter: 4,
            blur_every: 4,
            blur_sigma: 0.5,
            l2_decay: 0.0,
            octaves: 3,
            octave_scale: 1.4,
            range: (0.0, 255.0),
            normalize: StepNorm::Rms,
        }
    }
}

/// One gradient step: where it was taken and each image's objective before it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AscentStep {
    /// The octave, from 0.
    pub octave: usize,
    /// The step within the octave, from 0.
    pub step: usize,
    /// The image's height at this octave.
    pub height: usize,
    /// The image's width at this octave.
    pub width: usize,
    /// Each image's objective before the step.
    pub objective: Vec<f32>,
}

impl AscentStep {
    /// The batch's mean objective.
    pub fn mean(&self) -> f32 {
        self.objective.iter().sum::<f32>() / self.objective.len().max(1) as f32
    }
}

impl AscentConfig {
    /// The image size of each octave, ending at `size`.
    pub fn octave_sizes(&self, size: (usize, usize)) -> Vec<(usize, usize)> {
        let octaves = self.octaves.max(1);
        (0..octaves)
            .map(|o| {
                let shrink = self.octave_scale.powi((octaves - 1 - o) as i32);
                let f = |s: usize| ((s as f32 / shrink).round() as usize).max(1);
                (f(size.0), f(size.1))
            })
            .collect()
    }

    fn check(&self) -> Result<()> {
        if self.steps == 0 || self.octaves == 0 {
            candle_core::bail!("gradient ascent needs at least one step and one octave");
        }
        if !(self.step_size > 0.0 && self.step_size.is_finite()) {
            candle_core::bail!(
                "gradient ascent step size {} is not positive",
                self.step_size
            );
        }
        if !(0.0..1.0).contains(&self.l2_decay) || self.octave_scale < 1.0 || self.blur_sigma < 0.0
        {
            candle_core::bail!(
                "gradient ascent: l2 decay {} (needs 0 <= d < 1), octave scale {} (needs >= 1), blur sigma {} (needs >= 0)",
                self.l2_decay,
                self.octave_scale,
                self.blur_sigma
            );
        }
        Ok(())
    }
}

/// `(N, C, H, W)` uniform noise in `mean ± spread` (the usual start: grey with a little noise).
pub fn noise_image(
    shape: (usize, usize, usize, usize),
    mean: f32,
    spread: f32,
    rng: &mut impl Rng,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f32> = (0..n)
        .map(|_| mean + spread * rng.random_range(-1f32..=1.0))
        .collect();
    Tensor::from_vec(v, shape, device)
}

/// A separable Gaussian blur of each channel, with edge pixels repeated beyond the border.
pub fn gaussian_blur(x: &Tensor, sigma: f32) -> Result<Tensor> {
    if sigma <= 0.0 {
        return Ok(x.clone());
    }
    let (n, c, h, w) = x.dims4()?;
    let radius = (2.0 * sigma).ceil() as usize;
    let weights: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|v| v / total).collect();
    let k = weights.len();
    let dev = x.device();
    let row = Tensor::from_vec(weights.clone(), (1, 1, 1, k), dev)?.to_dtype(x.dtype())?;
    let col = Tensor::from_vec(weights, (1, 1, k, 1), dev)?.to_dtype(x.dtype())?;
    let planes = x.reshape((n * c, 1, h, w))?;
    let planes = planes
        .pad_with_same(3, radius, radius)?
        .conv2d(&row, 0, 1, 1, 1)?;
    let planes = planes
        .pad_with_same(2, radius, radius)?
        .conv2d(&col, 0, 1, 1, 1)?;
    planes.reshape((n, c, h, w))
}

/// Climbs `objective` (images -> one value per image, `(N,)`) from `start` to images of `size` (height,
/// width); `start` must have the first octave's size (see [`AscentConfig::octave_sizes`]). Returns the
/// final images and every step's objectives; `on_step` sees each step as it happens (for progress bars).
pub fn ascend(
    start: &Tensor,
    size: (usize, usize),
    config: &AscentConfig,
    rng: &mut impl Rng,
    objective: impl Fn(&Tensor) -> Result<Tensor>,
    mut on_step: impl FnMut(&AscentStep),
) -> Result<(Tensor, Vec<AscentStep>)> {
    ascend_from(
        Start::Image { image: start, size },
        config,
        rng,
        objective,
        |s, _| on_step(s),
    )
}

/// [`ascend`] from either kind of [`Start`]; `on_step` also sees the images each step produced (for
/// snapshots).
pub fn ascend_from(
    start: Start<'_>,
    config: &AscentConfig,
    rng: &mut impl Rng,
    objective: impl Fn(&Tensor) -> Result<Tensor>,
    mut on_step: impl FnMut(&AscentStep, &Tensor),
) -> Result<(Tensor, Vec<AscentStep>)> {
    config.check()?;
    let (first, sizes, photo) = match start {
        Start::Image { image, size } => {
            let sizes = config.octave_sizes(size);
            let (_, _, h0, w0) = image.dims4()?;
            if (h0, w0) != sizes[0] {
                candle_core::bail!(
                    "gradient ascent: the start image is {h0}x{w0}, the first octave needs {}x{}",
                    sizes[0].0,
                    sizes[0].1
                );
            }
            (image.detach(), sizes, None)
        }
        Start::Photo(photo) => {
            let (_, _, h, w) = photo.dims4()?;
            let sizes = config.octave_sizes((h, w));
            let photo = photo.detach();
            (shrink(&photo, sizes[0])?, sizes, Some(photo))
        }
    };
    let (lo, hi) = config.range;
    let middle = 0.5 * (lo + hi);
    let mut x = first;
    // The photo at the size of the octave just climbed (re-injection's reference).
    let mut base = x.clone();
    let mut trace = Vec::new();
    for (octave, &(h, w)) in sizes.iter().enumerate() {
        if octave > 0 {
            x = match &photo {
                None => x.upsample_bilinear2d(h, w, false)?,
                Some(photo) => {
                    let detail = (&x - &base)?.upsample_bilinear2d(h, w, false)?;
                    base = shrink(photo, (h, w))?;
                    (&base + detail)?.clamp(lo, hi)?
                }
            };
        }
        for step in 0..config.steps {
            let j = config.jitter as i32;
            let (dy, dx) = if j > 0 {
                (rng.random_range(-j..=j), rng.random_range(-j..=j))
            } else {
                (0, 0)
            };
            let shifted = Var::from_tensor(&x.roll(dy, 2)?.roll(dx, 3)?)?;
            let values = objective(shifted.as_tensor())?;
            let record = AscentStep {
                octave,
                step,
                height: h,
                width: w,
                objective: values.to_dtype(candle_core::DType::F32)?.to_vec1()?,
            };
            let grads = values.sum_all()?.backward()?;
            let Some(g) = grads.get(shifted.as_tensor()) else {
                candle_core::bail!("gradient ascent: the objective does not depend on the image");
            };
            // Per image, so that every image of the batch moves at the same pace.
            let scale = match config.normalize {
                StepNorm::Rms => per_image_mean(&g.sqr()?)?.sqrt()?,
                StepNorm::MeanAbs => per_image_mean(&g.abs()?)?,
            };
            let g = g.broadcast_div(&(scale + 1e-8)?)?;
            let mut next = (shifted.as_tensor().detach() + (g * f64::from(config.step_size))?)?;
            next = next.roll(-dy, 2)?.roll(-dx, 3)?;
            if config.l2_decay > 0.0 {
                next = (((next - f64::from(middle))? * f64::from(1.0 - config.l2_decay))?
                    + f64::from(middle))?;
            }
            if config.blur_every > 0 && (step + 1) % config.blur_every == 0 {
                next = gaussian_blur(&next, config.blur_sigma)?;
            }
            x = next.clamp(lo, hi)?.detach();
            on_step(&record, &x);
            trace.push(record);
        }
    }
    Ok((x, trace))
}

/// `(N, C, H, W)` to `(N, 1, 1, 1)` means.
fn per_image_mean(x: &Tensor) -> Result<Tensor> {
    x.mean_keepdim(3)?.mean_keepdim(2)?.mean_keepdim(1)
}

/// `photo` resized to `size` (bilinear, as the DeepDream notebook's zoom; a no-op at its own size, so
/// the last octave climbs the photo itself).
fn shrink(photo: &Tensor, size: (usize, usize)) -> Result<Tensor> {
    let (_, _, h, w) = photo.dims4()?;
    if (h, w) == size {
        Ok(photo.clone())
    } else {
        photo.upsample_bilinear2d(size.0, size.1, false)
    }
}

/// Images from gradient ascent made visible: each image centred on its mean, scaled so that its
/// standard deviation spans `0.1` of the range, shifted to grey and clipped (Chollet's recipe), in `0..=1`.
pub fn contrast_stretch(images: &Tensor) -> Result<Tensor> {
    let mean = images.mean_keepdim(3)?.mean_keepdim(2)?.mean_keepdim(1)?;
    let centred = images.broadcast_sub(&mean)?;
    let std = centred
        .sqr()?
        .mean_keepdim(3)?
        .mean_keepdim(2)?
        .mean_keepdim(1)?
        .sqrt()?;
    ((centred.broadcast_div(&(std + 1e-5)?)? * 0.1)? + 0.5)?.clamp(0f32, 1f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::SeedableRng;

    #[test]
    fn octave_sizes_end_at_the_final_size() {
        let c = AscentConfig {
            octaves: 3,
            octave_scale: 2.0,
            ..Default::default()
        };
        assert_eq!(c.octave_sizes((128, 96)), [(32, 24), (64, 48), (128, 96)]);
    }

    /// 7 x 1.4 rounds to 10 but 128 / 1.4^2 = 65 and 65 x 1.96 rounds to 127: the size asked for is the
    /// size returned, and a start of the wrong size is refused.
    #[test]
    fn ends_at_the_size_asked_for() {
        let dev = Device::Cpu;
        let c = AscentConfig {
            steps: 1,
            jitter: 0,
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let start = noise_image((1, 1, 65, 65), 0.5, 0.1, &mut rng, &dev).unwrap();
        let objective = |x: &Tensor| x.flatten_from(1)?.sum(1);
        let (x, trace) = ascend(&start, (128, 128), &c, &mut rng, objective, |_| {}).unwrap();
        assert_eq!(x.dims(), [1, 1, 128, 128]);
        assert_eq!(
            trace.iter().map(|s| s.height).collect::<Vec<_>>(),
            [65, 91, 128]
        );
        let err = ascend(&start, (100, 100), &c, &mut rng, objective, |_| {}).unwrap_err();
        assert!(err.to_string().contains("65x65"), "{err}");
    }

    #[test]
    fn blur_keeps_constants_and_spreads_a_point() {
        let x = Tensor::full(3f32, (1, 2, 5, 6), &Device::Cpu).unwrap();
        let b = gaussian_blur(&x, 1.0).unwrap();
        let d = (b - &x).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
        let mut v = vec![0f32; 25];
        v[12] = 1.0;
        let p = Tensor::from_vec(v, (1, 1, 5, 5), &Device::Cpu).unwrap();
        let b: Vec<f32> = gaussian_blur(&p, 1.0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(b[12] < 1.0 && b[12] > b[13] && b[13] > b[14] && b[13] == b[7]);
    }

    /// Maximizing each image's correlation with a target pattern must raise it at every step and end
    /// near the pattern's sign within the range.
    #[test]
    fn climbs_a_linear_objective_in_the_range() {
        let dev = Device::Cpu;
        let target = Tensor::from_vec(
            (0..2 * 16)
                .map(|i| if i % 3 == 0 { 1f32 } else { -1.0 })
                .collect::<Vec<_>>(),
            (2, 1, 4, 4),
            &dev,
        )
        .unwrap();
        let config = AscentConfig {
            steps: 6,
            step_size: 0.1,
            jitter: 0,
            blur_every: 0,
            octaves: 1,
            range: (0.0, 1.0),
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let start = noise_image((2, 1, 4, 4), 0.5, 0.05, &mut rng, &dev).unwrap();
        let (x, trace) = ascend(
            &start,
            (4, 4),
            &config,
            &mut rng,
            |x| (x * &target)?.flatten_from(1)?.sum(1),
            |_| {},
        )
        .unwrap();
        assert_eq!(trace.len(), 6);
        for pair in trace.windows(2) {
            assert!(pair[1].mean() > pair[0].mean(), "{pair:?}");
        }
        let want = ((&target + 1.0).unwrap() * 0.5).unwrap();
        let d = (x - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-6);
    }

    /// One step on `sum(x * w)`: the gradient is `w`, so the step is `w` over its RMS or mean |w|.
    #[test]
    fn a_step_divides_by_the_chosen_norm() {
        let dev = Device::Cpu;
        let w = Tensor::from_vec(vec![1f32, 3.0, -2.0, 2.0], (1, 1, 2, 2), &dev).unwrap();
        let start = Tensor::full(100f32, (1, 1, 2, 2), &dev).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (normalize, by) in [(StepNorm::Rms, 4.5f32.sqrt()), (StepNorm::MeanAbs, 2.0)] {
            let config = AscentConfig {
                steps: 1,
                step_size: 1.0,
                jitter: 0,
                blur_every: 0,
                octaves: 1,
                normalize,
                ..Default::default()
            };
            let (x, _) = ascend(
                &start,
                (2, 2),
                &config,
                &mut rng,
                |x| (x * &w)?.flatten_from(1)?.sum(1),
                |_| {},
            )
            .unwrap();
            let got: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            for (g, wi) in got.iter().zip([1f32, 3.0, -2.0, 2.0]) {
                assert!(
                    (g - (100.0 + wi / by)).abs() < 1e-4,
                    "{normalize:?}: {got:?}"
                );
            }
        }
    }

    /// A checkerboard photo climbing `sum(x)` (every pixel's gradient 1, so each step adds exactly
    /// `step_size`) over two octaves: shrinking to 2x2 averages the checkerboard away; re-injection
    /// must give it back, ending at photo + 2 steps, where plain enlargement ends flat.
    #[test]
    fn photo_octaves_reinject_the_detail_that_shrinking_lost() {
        let dev = Device::Cpu;
        let v: Vec<f32> = (0..16)
            .map(|i| {
                if (i / 4 + i % 4) % 2 == 0 {
                    100.0
                } else {
                    150.0
                }
            })
            .collect();
        let photo = Tensor::from_vec(v.clone(), (1, 1, 4, 4), &dev).unwrap();
        let config = AscentConfig {
            steps: 1,
            step_size: 3.0,
            jitter: 0,
            blur_every: 0,
            octaves: 2,
            octave_scale: 2.0,
            normalize: StepNorm::MeanAbs,
            ..Default::default()
        };
        let sum = |x: &Tensor| x.flatten_from(1)?.sum(1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut seen = Vec::new();
        let (x, trace) = ascend_from(Start::Photo(&photo), &config, &mut rng, sum, |s, x| {
            seen.push((s.height, x.dims().to_vec()))
        })
        .unwrap();
        let got: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for (g, p) in got.iter().zip(&v) {
            assert!((g - (p + 6.0)).abs() < 1e-4, "{got:?}");
        }
        // The first octave climbed the shrunk (flat, 125) photo; the second the photo plus one step.
        assert_eq!(trace.len(), 2);
        assert!(
            (trace[0].objective[0] - 4.0 * 125.0).abs() < 1e-3,
            "{trace:?}"
        );
        assert!(
            (trace[1].objective[0] - 16.0 * 128.0).abs() < 1e-3,
            "{trace:?}"
        );
        assert_eq!(seen, [(2, vec![1, 1, 2, 2]), (4, vec![1, 1, 4, 4])]);

        // Without re-injection the same climb loses the checkerboard.
        let small = photo.upsample_bilinear2d(2, 2, false).unwrap();
        let (flat, _) = ascend(&small, (4, 4), &config, &mut rng, sum, |_| {}).unwrap();
        let spread = (flat.max_all().unwrap() - flat.min_all().unwrap())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(spread < 1e-4, "{flat}");
    }
}
