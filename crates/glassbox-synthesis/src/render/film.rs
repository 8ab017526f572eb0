//! The rendered image: linear radiance per pixel, written as PFM (for measurement) and as a tone-mapped PNG
//! (for looking at), and the error measures the lesson compares integrators with.

use std::path::Path;

use image::RgbImage;

use super::geometry::Rgb;
use crate::Result;

/// Linear RGB radiance, row-major, row 0 at the top.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels.
    pub pixels: Vec<Rgb>,
}

fn format_error(path: &Path, problem: impl Into<String>) -> crate::Error {
    glassbox_core::Error::Format {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
    .into()
}

impl Image {
    /// A black image.
    pub fn new(width: u32, height: u32) -> Image {
        Image {
            width,
            height,
            pixels: vec![Rgb::ZERO; (width * height) as usize],
        }
    }

    /// The pixel at column `x`, row `y`.
    pub fn at(&self, x: u32, y: u32) -> Rgb {
        self.pixels[(y * self.width + x) as usize]
    }

    /// Mean radiance per channel, accumulated in f64.
    pub fn mean(&self) -> [f64; 3] {
        let mut s = [0.0f64; 3];
        for p in &self.pixels {
            s[0] += p.x as f64;
            s[1] += p.y as f64;
            s[2] += p.z as f64;
        }
        s.map(|v| v / self.pixels.len().max(1) as f64)
    }

    /// Relative MSE against `reference`: the mean over pixels and channels of (I - R)^2 / (R^2 + 0.01).
    pub fn relmse(&self, reference: &Image) -> f64 {
        assert_eq!(
            (self.width, self.height),
            (reference.width, reference.height),
            "relMSE needs images of one size"
        );
        let mut sum = 0.0f64;
        for (i, r) in self.pixels.iter().zip(&reference.pixels) {
            for c in 0..3 {
                let (a, b) = (i[c] as f64, r[c] as f64);
                sum += (a - b) * (a - b) / (b * b + 0.01);
            }
        }
        sum / (3 * self.pixels.len()) as f64
    }

    /// A `w x h` piece starting at `(x, y)`.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Image {
        let mut out = Image::new(w, h);
        for j in 0..h {
            for i in 0..w {
                out.pixels[(j * w + i) as usize] =
                    self.at((x + i).min(self.width - 1), (y + j).min(self.height - 1));
            }
        }
        out
    }

    /// Exposure, then the sRGB curve, clamped: what the PNGs show.
    pub fn to_rgb8(&self, exposure: f32) -> RgbImage {
        let encode = |v: f32| {
            let v = (v * exposure).clamp(0.0, 1.0);
            let s = if v <= 0.003_130_8 {
                12.92 * v
            } else {
                1.055 * v.powf(1.0 / 2.4) - 0.055
            };
            (s * 255.0 + 0.5) as u8
        };
        RgbImage::from_fn(self.width, self.height, |x, y| {
            let p = self.at(x, y);
            image::Rgb([encode(p.x), encode(p.y), encode(p.z)])
        })
    }

    /// Writes the image tone-mapped (see [`Image::to_rgb8`]) as a PNG, atomically.
    pub fn save_png(&self, path: &Path, exposure: f32) -> Result<()> {
        Ok(glassbox_core::imaging::save_rgb_png(
            path,
            &self.to_rgb8(exposure),
        )?)
    }

    /// Portable float map, little-endian (scale -1), rows bottom to top as the format says; written atomically.
    pub fn save_pfm(&self, path: &Path) -> Result<()> {
        let mut bytes = format!("PF\n{} {}\n-1.0\n", self.width, self.height).into_bytes();
        bytes.reserve(self.pixels.len() * 12);
        for y in (0..self.height).rev() {
            for x in 0..self.width {
                let p = self.at(x, y);
                for v in [p.x, p.y, p.z] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        glassbox_core::assets::atomic::write_bytes_atomic(path, &bytes)
            .map_err(glassbox_core::Error::from)?;
        Ok(())
    }

    /// Reads a colour PFM (either byte order); refuses gray maps, bad headers and short data by name.
    pub fn load_pfm(path: &Path) -> Result<Image> {
        let bytes = std::fs::read(path).map_err(|cause| glassbox_core::Error::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        // The header: three whitespace-separated tokens after the magic, then one whitespace byte.
        let mut tokens = Vec::new();
        let mut i = 0;
        while tokens.len() < 4 {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if start == i || i - start > 32 {
                return Err(format_error(
                    path,
                    "not a PFM file: truncated or malformed header",
                ));
            }
            tokens.push(String::from_utf8_lossy(&bytes[start..i]).to_string());
        }
        i += 1;
        match tokens[0].as_str() {
            "PF" => {}
            "Pf" => {
                return Err(format_error(
                    path,
                    "a gray PFM (Pf); expected a colour one (PF)",
                ))
            }
            other => {
                return Err(format_error(
                    path,
                    format!("not a PFM file: magic {other:?}, expected \"PF\""),
                ))
            }
        }
        let parse = |t: &str, what: &str| -> Result<u32> {
            t.parse::<u32>()
                .ok()
                .filter(|&v| v > 0 && v <= 1 << 15)
                .ok_or_else(|| format_error(path, format!("bad {what} {t:?} (expected 1..32768)")))
        };
        let (w, h) = (parse(&tokens[1], "width")?, parse(&tokens[2], "height")?);
        let scale: f32 = tokens[3]
            .parse()
            .map_err(|_| format_error(path, format!("bad scale {:?}", tokens[3])))?;
        let little = scale < 0.0;
        let need = w as usize * h as usize * 12;
        let data = bytes.get(i..).unwrap_or(&[]);
        if data.len() < need {
            return Err(format_error(
                path,
                format!("{w}x{h} needs {need} bytes of pixels, found {}", data.len()),
            ));
        }
        let mut img = Image::new(w, h);
        for (k, chunk) in data[..need].chunks_exact(4).enumerate() {
            let b = [chunk[0], chunk[1], chunk[2], chunk[3]];
            let v = if little {
                f32::from_le_bytes(b)
            } else {
                f32::from_be_bytes(b)
            };
            let (pixel, channel) = (k / 3, k % 3);
            let (x, y_from_bottom) = (pixel as u32 % w, pixel as u32 / w);
            let p = &mut img.pixels[((h - 1 - y_from_bottom) * w + x) as usize];
            match channel {
                0 => p.x = v,
                1 => p.y = v,
                _ => p.z = v,
            }
        }
        Ok(img)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfm_round_trips_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::new(3, 2);
        for (i, p) in img.pixels.iter_mut().enumerate() {
            *p = Rgb::new(i as f32, 0.5 * i as f32, -1.0);
        }
        let path = dir.path().join("a.pfm");
        img.save_pfm(&path).unwrap();
        assert_eq!(Image::load_pfm(&path).unwrap(), img);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let e = Image::load_pfm(&path).unwrap_err().to_string();
        assert!(e.contains("a.pfm") && e.contains("needs 72 bytes"), "{e}");
        std::fs::write(&path, b"P6\n1 1\n255\nxyz").unwrap();
        assert!(Image::load_pfm(&path)
            .unwrap_err()
            .to_string()
            .contains("magic"));
    }

    /// Every truncation and many single-byte corruptions of a valid file give an error or an image, never a
    /// panic; a header claiming a huge image is refused before anything of that size is allocated.
    #[test]
    fn damaged_pfm_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.pfm");
        let mut img = Image::new(5, 3);
        for (i, p) in img.pixels.iter_mut().enumerate() {
            *p = Rgb::splat(i as f32);
        }
        img.save_pfm(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(
                Image::load_pfm(&path).is_err(),
                "a file cut at {cut} bytes loaded"
            );
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = good.clone();
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 32) as u8;
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(loaded) = Image::load_pfm(&path) {
                assert_eq!(loaded.pixels.len(), (loaded.width * loaded.height) as usize);
            }
        }
        std::fs::write(&path, b"PF\n32768 32768\n-1.0\n\0\0\0\0").unwrap();
        let e = Image::load_pfm(&path).unwrap_err().to_string();
        assert!(
            e.contains("d.pfm") && e.contains("needs 12884901888 bytes"),
            "{e}"
        );
        std::fs::write(&path, b"PF\n99999999999 2\n-1.0\n").unwrap();
        assert!(Image::load_pfm(&path)
            .unwrap_err()
            .to_string()
            .contains("bad width"));
    }

    #[test]
    fn relmse_is_zero_for_equal_images_and_scales_with_error() {
        let mut a = Image::new(2, 1);
        a.pixels = vec![Rgb::splat(1.0), Rgb::splat(0.0)];
        assert_eq!(a.relmse(&a), 0.0);
        let mut b = a.clone();
        b.pixels[1] = Rgb::splat(0.1);
        // Pixel 1: 0.01 / (0 + 0.01) = 1 in three channels, pixel 0 nothing: mean over 6 values.
        assert!((b.relmse(&a) - 0.5).abs() < 1e-6);
    }
}
