//! Figures made of images: grids, captioned rows (feature `figures`), feature-map mosaics and heat maps
//! (feature `candle`).
//!
//! Everything returns an [`RgbImage`]; save it with [`save_rgb_png`](super::save_rgb_png). Captions are drawn
//! with the embedded DejaVu Sans, so figures look the same on every machine.

#[cfg(feature = "figures")]
use std::path::PathBuf;

#[cfg(feature = "candle")]
use candle_core::{DType, Device, Tensor};
use image::{imageops, Rgb, RgbImage};
#[cfg(feature = "figures")]
use plotters::prelude::*;
#[cfg(feature = "figures")]
use plotters::style::text_anchor::{HPos, Pos, VPos};

#[cfg(feature = "candle")]
use super::colormap::{Colormap, Scale};
#[cfg(feature = "figures")]
use super::font;
#[cfg(any(feature = "candle", feature = "figures"))]
use crate::{Error, Result};

#[cfg(feature = "figures")]
/// Caption font size in pixels.
const CAPTION_SIZE: f64 = 18.0;
#[cfg(feature = "figures")]
/// Height of one caption line.
const CAPTION_LINE: u32 = 23;
#[cfg(feature = "figures")]
/// Space around and between the panels of [`side_by_side`].
const PANEL_PAD: u32 = 12;
#[cfg(feature = "figures")]
/// Space between a panel and its caption.
const CAPTION_GAP: u32 = 8;

/// Lays `images` out in rows of `cols` (0: as square as possible), each centred in a cell as large as the
/// largest image, with `pad` pixels of `background` around and between cells. An empty list gives a
/// `2 pad` x `2 pad` (at least 1 x 1) background.
pub fn grid(images: &[RgbImage], cols: usize, pad: u32, background: Rgb<u8>) -> RgbImage {
    if images.is_empty() {
        let side = (2 * pad).max(1);
        return RgbImage::from_pixel(side, side, background);
    }
    let n = images.len();
    let cols = if cols == 0 {
        square_cols(n)
    } else {
        cols.min(n)
    };
    let rows = n.div_ceil(cols);
    let cell_w = images.iter().map(|i| i.width()).max().unwrap_or(0);
    let cell_h = images.iter().map(|i| i.height()).max().unwrap_or(0);
    let width = cols as u32 * cell_w + (cols as u32 + 1) * pad;
    let height = rows as u32 * cell_h + (rows as u32 + 1) * pad;
    let mut out = RgbImage::from_pixel(width.max(1), height.max(1), background);
    for (i, image) in images.iter().enumerate() {
        let (row, col) = ((i / cols) as u32, (i % cols) as u32);
        let x = pad + col * (cell_w + pad) + (cell_w - image.width()) / 2;
        let y = pad + row * (cell_h + pad) + (cell_h - image.height()) / 2;
        imageops::replace(&mut out, image, i64::from(x), i64::from(y));
    }
    out
}

/// The number of columns of an about-square grid of `n` cells.
fn square_cols(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).max(1)
}

#[cfg(feature = "figures")]
/// Images in a row on white, each with its caption centred under it (`\n` starts a new line). A column is
/// as wide as its image or its caption, whichever is wider, so captions of small images stay legible.
/// `captions` may be shorter than `images` (the rest have none) but not longer.
pub fn side_by_side(images: &[RgbImage], captions: &[&str]) -> Result<RgbImage> {
    if images.is_empty() {
        return Err(Error::invalid(
            "side_by_side images",
            0,
            "at least one image",
        ));
    }
    if captions.len() > images.len() {
        return Err(Error::invalid(
            "side_by_side captions",
            captions.len(),
            format!("at most one per image ({})", images.len()),
        ));
    }
    let lines: Vec<Vec<&str>> = (0..images.len())
        .map(|i| match captions.get(i) {
            Some(c) if !c.is_empty() => c.lines().collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut widths = Vec::with_capacity(images.len());
    for (image, lines) in images.iter().zip(&lines) {
        let mut w = image.width();
        for line in lines {
            w = w.max(text_width(line).map_err(figure_error)? + 4);
        }
        widths.push(w);
    }
    let max_lines = lines.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let image_h = images.iter().map(|i| i.height()).max().unwrap_or(0);
    let caption_h = if max_lines == 0 {
        0
    } else {
        CAPTION_GAP + max_lines * CAPTION_LINE
    };
    let width = widths.iter().sum::<u32>() + (images.len() as u32 + 1) * PANEL_PAD;
    let height = 2 * PANEL_PAD + image_h + caption_h;
    let mut out = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let mut texts = Vec::new();
    let mut x = PANEL_PAD;
    for ((image, w), lines) in images.iter().zip(&widths).zip(&lines) {
        imageops::replace(
            &mut out,
            image,
            i64::from(x + (w - image.width()) / 2),
            i64::from(PANEL_PAD),
        );
        let centre = (x + w / 2) as i32;
        for (j, line) in lines.iter().enumerate() {
            let y = PANEL_PAD + image_h + CAPTION_GAP + j as u32 * CAPTION_LINE;
            texts.push((line.to_string(), centre, y as i32));
        }
        x += w + PANEL_PAD;
    }
    draw_texts(&mut out, &texts, CAPTION_SIZE).map_err(figure_error)?;
    Ok(out)
}

#[cfg(feature = "figures")]
fn figure_error(problem: String) -> Error {
    Error::Plot {
        path: PathBuf::from("<figure in memory>"),
        problem,
    }
}

#[cfg(feature = "figures")]
/// The width in pixels of `text` in the caption font.
fn text_width(text: &str) -> std::result::Result<u32, String> {
    font::ensure()?;
    let (w, _) = (font::FAMILY, CAPTION_SIZE)
        .into_font()
        .box_size(text)
        .map_err(|e| format!("cannot lay out {text:?}: {e}"))?;
    Ok(w)
}

#[cfg(feature = "figures")]
/// Draws black text, each `(text, x centre, y top)`, onto `image`.
pub(crate) fn draw_texts(
    image: &mut RgbImage,
    texts: &[(String, i32, i32)],
    size: f64,
) -> std::result::Result<(), String> {
    font::ensure()?;
    let (w, h) = image.dimensions();
    let mut buffer = std::mem::take(image).into_raw();
    let result = (|| {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let style = TextStyle::from((font::FAMILY, size).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (text, x, y) in texts {
            root.draw_text(text, &style, (*x, *y))
                .map_err(|e| format!("cannot draw {text:?}: {e}"))?;
        }
        root.present().map_err(|e| e.to_string())
    })();
    *image = RgbImage::from_raw(w, h, buffer).expect("same size");
    result
}

/// Nearest-neighbour enlargement by an integer `factor` (0 is taken as 1): each pixel becomes a
/// `factor` x `factor` block. For small maps (28 x 28 digits, 12 x 12 activations) that must stay crisp.
pub fn upscale(image: &RgbImage, factor: u32) -> RgbImage {
    let f = factor.max(1);
    if f == 1 {
        return image.clone();
    }
    RgbImage::from_fn(image.width() * f, image.height() * f, |x, y| {
        *image.get_pixel(x / f, y / f)
    })
}

#[cfg(feature = "candle")]
/// The values of a single map: `(H, W)` or `(1, H, W)`.
fn map_values(tensor: &Tensor, what: &str) -> Result<(usize, usize, Vec<f32>)> {
    let (h, w) = match *tensor.dims() {
        [h, w] | [1, h, w] => (h, w),
        _ => {
            return Err(Error::invalid(
                what,
                format!("{:?}", tensor.dims()),
                "(H, W) or (1, H, W)",
            ))
        }
    };
    if h == 0 || w == 0 {
        return Err(Error::invalid(
            what,
            format!("{:?}", tensor.dims()),
            "at least 1x1",
        ));
    }
    Ok((h, w, cpu_values(tensor)?))
}

#[cfg(feature = "candle")]
fn cpu_values(tensor: &Tensor) -> Result<Vec<f32>> {
    Ok(tensor
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

#[cfg(feature = "candle")]
fn colorize(
    values: &[f32],
    w: usize,
    h: usize,
    colormap: Colormap,
    scale: Scale,
) -> Result<RgbImage> {
    let t = scale.mapper(values)?;
    let data = values
        .iter()
        .flat_map(|&v| colormap.color(t(v)).0)
        .collect();
    Ok(RgbImage::from_raw(w as u32, h as u32, data).expect("sized"))
}

#[cfg(feature = "candle")]
/// A `(H, W)` (or `(1, H, W)`) tensor as an image of the same size, coloured with `colormap` after `scale`.
/// Enlarge small maps with [`upscale`].
pub fn heatmap(values: &Tensor, colormap: Colormap, scale: Scale) -> Result<RgbImage> {
    let (h, w, v) = map_values(values, "heat map shape")?;
    colorize(&v, w, h, colormap, scale)
}

#[cfg(feature = "candle")]
/// `K` feature maps, `(K, H, W)` (or `(1, K, H, W)`), as an about-square mosaic of gray tiles, each map
/// min-max normalized on its own (a constant map is black), enlarged to at least 48 pixels a side.
pub fn tile_maps(maps: &Tensor) -> Result<RgbImage> {
    tile_maps_with(maps, 0, Colormap::Gray, 48)
}

#[cfg(feature = "candle")]
/// [`tile_maps`] with `cols` columns (0: about square), a colour map, and tiles enlarged (nearest, by an
/// integer factor) until the longer side is at least `min_tile` pixels. Tiles are separated by 2 pixels of
/// mid gray.
pub fn tile_maps_with(
    maps: &Tensor,
    cols: usize,
    colormap: Colormap,
    min_tile: u32,
) -> Result<RgbImage> {
    let (k, h, w) = match *maps.dims() {
        [k, h, w] | [1, k, h, w] => (k, h, w),
        _ => {
            return Err(Error::invalid(
                "feature maps shape",
                format!("{:?}", maps.dims()),
                "(K, H, W) or (1, K, H, W)",
            ))
        }
    };
    if k == 0 || h == 0 || w == 0 {
        return Err(Error::invalid(
            "feature maps shape",
            format!("{:?}", maps.dims()),
            "at least one map of at least 1x1",
        ));
    }
    let values = cpu_values(maps)?;
    let longer = h.max(w) as u32;
    let factor = min_tile.div_ceil(longer).max(1);
    let tiles = values
        .chunks_exact(h * w)
        .map(|map| {
            Ok(upscale(
                &colorize(map, w, h, colormap, Scale::MinMax)?,
                factor,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(grid(&tiles, cols, 2, Rgb([128, 128, 128])))
}

#[cfg(all(test, feature = "candle", feature = "figures"))]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, v: u8) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([v, v, v]))
    }

    #[test]
    fn grid_layout() {
        let bg = Rgb([1, 2, 3]);
        let images = [solid(4, 2, 10), solid(2, 4, 20), solid(4, 4, 30)];
        let g = grid(&images, 2, 1, bg);
        // Cells 4 x 4, two columns, two rows, 1 pixel around and between.
        assert_eq!(g.dimensions(), (2 * 4 + 3, 2 * 4 + 3));
        assert_eq!(g.get_pixel(0, 0), &bg);
        // First image centred vertically in its cell: rows 2..4.
        assert_eq!(g.get_pixel(1, 1), &bg);
        assert_eq!(g.get_pixel(1, 2), &Rgb([10, 10, 10]));
        // Second image centred horizontally: columns 7..9.
        assert_eq!(g.get_pixel(7, 1), &Rgb([20, 20, 20]));
        assert_eq!(g.get_pixel(6, 1), &bg);
        // Third on the second row.
        assert_eq!(g.get_pixel(1, 6), &Rgb([30, 30, 30]));
        // The empty fourth cell stays background.
        assert_eq!(g.get_pixel(8, 8), &bg);
        // Auto columns: 5 images -> 3 columns.
        let five = vec![solid(1, 1, 0); 5];
        assert_eq!(grid(&five, 0, 0, bg).dimensions(), (3, 2));
        assert_eq!(grid(&[], 3, 2, bg).dimensions(), (4, 4));
    }

    #[test]
    fn upscale_is_nearest() {
        let mut img = solid(2, 1, 0);
        img.put_pixel(1, 0, Rgb([255, 0, 0]));
        let up = upscale(&img, 3);
        assert_eq!(up.dimensions(), (6, 3));
        assert_eq!(up.get_pixel(2, 2), &Rgb([0, 0, 0]));
        assert_eq!(up.get_pixel(3, 0), &Rgb([255, 0, 0]));
        assert_eq!(upscale(&img, 0), img);
    }

    #[test]
    fn side_by_side_draws_captions() {
        let images = [solid(60, 40, 200), solid(30, 50, 100)];
        let plain = side_by_side(&images, &[]).unwrap();
        let captioned =
            side_by_side(&images, &["left", "a much longer caption\nsecond line"]).unwrap();
        assert_eq!(plain.height(), 2 * PANEL_PAD + 50);
        assert_eq!(
            captioned.height(),
            2 * PANEL_PAD + 50 + CAPTION_GAP + 2 * CAPTION_LINE
        );
        // The second column widens to its caption.
        assert!(captioned.width() > plain.width());
        // Dark text pixels below the images.
        let caption_band = (PANEL_PAD + 50..captioned.height())
            .flat_map(|y| (0..captioned.width()).map(move |x| (x, y)));
        let dark = caption_band
            .filter(|&(x, y)| captioned.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(dark > 50, "{dark} dark pixels");
        assert!(side_by_side(&[], &[]).is_err());
        assert!(side_by_side(&images[..1], &["a", "b"]).is_err());
    }

    #[test]
    fn heatmap_colours_and_scales() {
        let t = Tensor::new(&[[-1.0f32, 0.0], [0.5, 1.0]], &Device::Cpu).unwrap();
        let img = heatmap(&t, Colormap::BlueWhiteRed, Scale::Symmetric).unwrap();
        assert_eq!(img.dimensions(), (2, 2));
        assert_eq!(img.get_pixel(1, 0), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(0, 0), &Colormap::BlueWhiteRed.color(0.0));
        assert_eq!(img.get_pixel(1, 1), &Colormap::BlueWhiteRed.color(1.0));
        let img = heatmap(&t.unsqueeze(0).unwrap(), Colormap::Viridis, Scale::MinMax).unwrap();
        assert_eq!(img.get_pixel(0, 0), &Colormap::Viridis.color(0.0));
        assert_eq!(img.get_pixel(1, 1), &Colormap::Viridis.color(1.0));
        let img = heatmap(&t, Colormap::Gray, Scale::Fixed(0.0, 2.0)).unwrap();
        assert_eq!(img.get_pixel(1, 1), &Rgb([128, 128, 128]));
        assert!(heatmap(&t, Colormap::Gray, Scale::Fixed(2.0, 0.0)).is_err());
        assert!(heatmap(
            &Tensor::zeros((2, 2, 2), DType::F32, &Device::Cpu).unwrap(),
            Colormap::Gray,
            Scale::MinMax
        )
        .is_err());
    }

    #[test]
    fn tile_maps_normalizes_each_map() {
        // Two 2 x 3 maps with very different ranges; both use the full gray range.
        let a: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..6).map(|i| 1000.0 + 0.001 * i as f32).collect();
        let t = Tensor::from_vec([a, b].concat(), (2, 2, 3), &Device::Cpu).unwrap();
        let img = tile_maps_with(&t, 2, Colormap::Gray, 1).unwrap();
        assert_eq!(img.dimensions(), (2 * 3 + 3 * 2, 2 + 2 * 2));
        assert_eq!(img.get_pixel(2, 2), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(4, 3), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(7, 2), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(9, 3), &Rgb([255, 255, 255]));
        // Default: about square, tiles enlarged to at least 48 pixels (3 -> factor 16).
        let img = tile_maps(&t.unsqueeze(0).unwrap()).unwrap();
        assert_eq!(img.dimensions(), (2 * 48 + 3 * 2, 32 + 2 * 2));
        assert!(tile_maps(&Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap()).is_err());
    }

    /// Writes `image` as PNG into `dir` and checks that it decodes to the same pixels.
    fn written(dir: &std::path::Path, name: &str, image: &RgbImage) -> RgbImage {
        let path = dir.join(name);
        crate::imaging::save_rgb_png(&path, image).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert!(
            back == *image,
            "{name}: the PNG does not decode to the image"
        );
        back
    }

    fn distinct_colours(image: &RgbImage) -> usize {
        image
            .pixels()
            .map(|p| p.0)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// One example of each figure, checked (layout, pixels, captions drawn); also left in `GLASSBOX_FIGS`
    /// when that names a directory, to look at.
    #[test]
    fn example_figures() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::testdata::figures_dir().unwrap_or_else(|| tmp.path().to_path_buf());
        // Three 224 x 224 colour ramps stand in for photos.
        let photos: Vec<RgbImage> = (0..3u8)
            .map(|k| RgbImage::from_fn(224, 224, |x, y| Rgb([x as u8, y as u8, 60 + 80 * k])))
            .collect();
        let row = side_by_side(
            &photos,
            &[
                "tabby cat 0.87",
                "espresso 0.93\n(second line)",
                "space shuttle",
            ],
        )
        .unwrap();
        let row = written(&dir, "side_by_side.png", &row);
        assert_eq!(
            row.height(),
            2 * PANEL_PAD + 224 + CAPTION_GAP + 2 * CAPTION_LINE
        );
        assert!(row.width() >= 3 * 224 + 4 * PANEL_PAD);
        // The first photo sits at the top-left padding (its caption is narrower than it).
        assert_eq!(
            row.get_pixel(PANEL_PAD + 10, PANEL_PAD + 20),
            &Rgb([10, 20, 60])
        );
        // Captions are drawn: dark text pixels under the photos.
        let ink = (PANEL_PAD + 224..row.height())
            .flat_map(|y| (0..row.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| row.get_pixel(x, y).0.iter().all(|&c| c < 100))
            .count();
        assert!(ink > 200, "only {ink} caption pixels");

        let small: Vec<RgbImage> = photos
            .iter()
            .map(|p| imageops::thumbnail(p, 56, 56))
            .collect();
        let many: Vec<RgbImage> = small.iter().cycle().take(10).cloned().collect();
        let g = written(&dir, "grid.png", &grid(&many, 5, 4, Rgb([255, 255, 255])));
        assert_eq!(g.dimensions(), (5 * 56 + 6 * 4, 2 * 56 + 3 * 4));
        // Cells are 56 + 4 apart: the second image is in the first row's second cell.
        assert_eq!(g.get_pixel(4 + 60 + 30, 4 + 30), small[1].get_pixel(30, 30));
        assert_eq!(g.get_pixel(4 + 30, 4 + 60 + 30), small[2].get_pixel(30, 30));

        // 16 synthetic 12 x 12 "feature maps": oriented gratings.
        let maps: Vec<f32> = (0..16)
            .flat_map(|k| {
                let angle = k as f32 * std::f32::consts::PI / 16.0;
                (0..144).map(move |i| {
                    let (x, y) = ((i % 12) as f32, (i / 12) as f32);
                    ((x * angle.cos() + y * angle.sin()) * 0.9).sin() * (k + 1) as f32
                })
            })
            .collect();
        let maps = Tensor::from_vec(maps, (16, 12, 12), &Device::Cpu).unwrap();
        // Four by four tiles of 48 pixels (12 enlarged 4x), 2 pixels apart.
        let tiles = written(&dir, "tile_maps.png", &tile_maps(&maps).unwrap());
        assert_eq!(tiles.dimensions(), (4 * 48 + 5 * 2, 4 * 48 + 5 * 2));
        assert!(distinct_colours(&tiles) > 50);
        let tiles = tile_maps_with(&maps, 8, Colormap::Viridis, 64).unwrap();
        let tiles = written(&dir, "tile_maps_viridis.png", &tiles);
        assert!(distinct_colours(&tiles) > 50);

        // A 28 x 28 signed map (a Gaussian bump minus a shifted one).
        let signed: Vec<f32> = (0..28 * 28)
            .map(|i| {
                let (x, y) = ((i % 28) as f32, (i / 28) as f32);
                let g = |cx: f32, cy: f32| (-((x - cx).powi(2) + (y - cy).powi(2)) / 30.0).exp();
                g(9.0, 10.0) - 0.6 * g(19.0, 17.0)
            })
            .collect();
        let signed = Tensor::from_vec(signed, (28, 28), &Device::Cpu).unwrap();
        let maps: Vec<RgbImage> = [
            (Colormap::Viridis, Scale::MinMax),
            (Colormap::Inferno, Scale::MinMax),
            (Colormap::BlueWhiteRed, Scale::Symmetric),
            (Colormap::Gray, Scale::Fixed(-1.0, 1.0)),
        ]
        .iter()
        .map(|&(c, s)| upscale(&heatmap(&signed, c, s).unwrap(), 6))
        .collect();
        for m in &maps {
            assert_eq!(m.dimensions(), (168, 168));
            assert!(distinct_colours(m) > 100);
        }
        // On the diverging scale the bump is red and the dip blue; the corner, near 0, is pale.
        let red = maps[2].get_pixel(9 * 6, 10 * 6).0;
        let blue = maps[2].get_pixel(19 * 6, 17 * 6).0;
        let pale = maps[2].get_pixel(0, 167).0;
        assert!(red[0] > red[2] + 50, "{red:?}");
        assert!(blue[2] > blue[0] + 50, "{blue:?}");
        assert!(pale.iter().all(|&c| c > 200), "{pale:?}");
        let row = side_by_side(
            &maps,
            &[
                "viridis",
                "inferno",
                "blue-white-red\nsymmetric",
                "gray fixed(-1, 1)",
            ],
        )
        .unwrap();
        written(&dir, "heatmaps.png", &row);

        // Colour bars: each runs from one end of its map to the other.
        let ramp = Tensor::arange(0f32, 256.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 256))
            .unwrap();
        let bars: Vec<RgbImage> = [
            Colormap::Viridis,
            Colormap::Inferno,
            Colormap::BlueWhiteRed,
            Colormap::Gray,
        ]
        .iter()
        .map(|&c| {
            imageops::resize(
                &heatmap(&ramp, c, Scale::MinMax).unwrap(),
                256,
                24,
                imageops::FilterType::Nearest,
            )
        })
        .collect();
        for bar in &bars {
            assert_ne!(bar.get_pixel(0, 12), bar.get_pixel(255, 12));
        }
        assert_eq!(bars[3].get_pixel(0, 12), &Rgb([0, 0, 0]));
        assert_eq!(bars[3].get_pixel(255, 12), &Rgb([255, 255, 255]));
        written(
            &dir,
            "colormaps.png",
            &grid(&bars, 1, 6, Rgb([255, 255, 255])),
        );
    }
}
