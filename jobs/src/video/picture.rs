//! Frames between the decoder and the encoders: an owned 8-bit 4:2:0 picture, brought to
//! limited-range SDR BT.709 ([`colour`](super::colour)), turned upright (the display rotation
//! applied), and scaled once per rung with Lanczos3 per plane (fast_image_resize, SIMD).

use fast_image_resize::{
    FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
    images::{Image, ImageRef},
};

use super::{
    av::Yuv420Frame,
    colour::{self, Planes, SourceColour},
};

/// An 8-bit 4:2:0 picture with tightly packed planes (chroma `(w+1)/2` x `(h+1)/2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Luma width.
    pub width: u32,
    /// Luma height.
    pub height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Cb.
    pub u: Vec<u8>,
    /// Cr.
    pub v: Vec<u8>,
}

/// The chroma size of a `width` x `height` 4:2:0 picture.
pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(2), height.div_ceil(2))
}

impl Picture {
    /// `frame`, of colour `colour`, in limited-range SDR BT.709 (what every player expects of
    /// 8-bit video), turned clockwise by `rotation` degrees (0, 90, 180, 270).
    pub fn upright(frame: &Yuv420Frame<'_>, rotation: u16, colour: SourceColour) -> Self {
        let (w, h) = (frame.width, frame.height);
        let (cw, ch) = chroma_size(w, h);
        if frame.bits != 8 || colour != SourceColour::default() {
            let planes = Planes {
                y: frame.y,
                u: frame.u,
                v: frame.v,
                strides: (frame.y_stride, frame.u_stride, frame.v_stride),
                size: (w, h),
                bits: frame.bits,
                full_range: frame.full_range,
            };
            let (y, u, v) = colour::to_bt709(&planes, colour);
            let keep = std::convert::identity;
            return Self::oriented(
                turn(&y, w as usize, w, h, rotation, keep),
                turn(&u, cw as usize, cw, ch, rotation, keep),
                turn(&v, cw as usize, cw, ch, rotation, keep),
                (w, h),
                rotation,
            );
        }
        type Map = fn(u8) -> u8;
        let (luma, chroma): (Map, Map) = if frame.full_range {
            (full_to_limited_luma, full_to_limited_chroma)
        } else {
            (std::convert::identity, std::convert::identity)
        };
        Self::oriented(
            turn(frame.y, frame.y_stride, w, h, rotation, luma),
            turn(frame.u, frame.u_stride, cw, ch, rotation, chroma),
            turn(frame.v, frame.v_stride, cw, ch, rotation, chroma),
            (w, h),
            rotation,
        )
    }

    /// A picture of planes turned by `rotation` from a stored `size`.
    fn oriented(y: Vec<u8>, u: Vec<u8>, v: Vec<u8>, size: (u32, u32), rotation: u16) -> Self {
        let (w, h) = size;
        let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        Self {
            width,
            height,
            y,
            u,
            v,
        }
    }

    /// This picture resampled to `width` x `height` (Lanczos3, each plane on its own).
    pub fn scaled(&self, resizer: &mut Resizer, width: u32, height: u32) -> Result<Self, String> {
        if (width, height) == (self.width, self.height) {
            return Ok(self.clone());
        }
        let (cw, ch) = chroma_size(self.width, self.height);
        let (tcw, tch) = chroma_size(width, height);
        Ok(Self {
            width,
            height,
            y: scale_plane(resizer, &self.y, (self.width, self.height), (width, height))?,
            u: scale_plane(resizer, &self.u, (cw, ch), (tcw, tch))?,
            v: scale_plane(resizer, &self.v, (cw, ch), (tcw, tch))?,
        })
    }
}

fn scale_plane(
    resizer: &mut Resizer,
    plane: &[u8],
    from: (u32, u32),
    to: (u32, u32),
) -> Result<Vec<u8>, String> {
    let source =
        ImageRef::new(from.0, from.1, plane, PixelType::U8).map_err(|err| format!("scaling: {err}"))?;
    let mut target = Image::new(to.0, to.1, PixelType::U8);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    resizer
        .resize(&source, &mut target, &options)
        .map_err(|err| format!("scaling: {err}"))?;
    Ok(target.into_vec())
}

/// Copies a `w` x `h` plane out of rows of `stride` bytes, turned clockwise by `rotation`,
/// mapping every sample through `map`. Rows shorter than the stride says are read as zeros
/// (the decoder's planes always hold them; a short one is a bug, not a panic).
fn turn(src: &[u8], stride: usize, w: u32, h: u32, rotation: u16, map: fn(u8) -> u8) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let at = |x: usize, y: usize| src.get(y * stride + x).copied().map_or(0, map);
    let mut out = Vec::with_capacity(w * h);
    match rotation {
        90 => {
            // Output is h wide, w high: output (x, y) shows source (y, h - 1 - x).
            for oy in 0..w {
                out.extend((0..h).map(|ox| at(oy, h - 1 - ox)));
            }
        }
        180 => {
            for oy in 0..h {
                out.extend((0..w).map(|ox| at(w - 1 - ox, h - 1 - oy)));
            }
        }
        270 => {
            // Output (x, y) shows source (w - 1 - y, x).
            for oy in 0..w {
                out.extend((0..h).map(|ox| at(w - 1 - oy, ox)));
            }
        }
        _ => {
            for row in 0..h {
                out.extend((0..w).map(|x| at(x, row)));
            }
        }
    }
    out
}

/// Full-range luma (0–255) to limited range (16–235).
fn full_to_limited_luma(y: u8) -> u8 {
    ((u32::from(y) * 219 + 127) / 255 + 16) as u8
}

/// Full-range chroma (0–255 around 128) to limited range (16–240 around 128).
fn full_to_limited_chroma(c: u8) -> u8 {
    ((u32::from(c) * 224 + 127) / 255 + 16) as u8
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A 4x2 picture whose luma counts 0..8 and whose chroma is 2x1.
    fn frame(full_range: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let _ = full_range;
        ((0..8).collect(), vec![100, 200], vec![50, 60])
    }

    fn picture(rotation: u16, full_range: bool) -> Picture {
        let (y, u, v) = frame(full_range);
        let source = Yuv420Frame {
            y: &y,
            u: &u,
            v: &v,
            y_stride: 4,
            u_stride: 2,
            v_stride: 2,
            width: 4,
            height: 2,
            pts_seconds: 0.0,
            full_range,
            bits: 8,
        };
        Picture::upright(&source, rotation, SourceColour::default())
    }

    #[test]
    fn rotations_turn_the_picture_clockwise() {
        // 0 1 2 3
        // 4 5 6 7
        assert_eq!(picture(0, false).y, (0..8).collect::<Vec<u8>>());
        let quarter = picture(90, false);
        assert_eq!((quarter.width, quarter.height), (2, 4));
        assert_eq!(quarter.y, [4, 0, 5, 1, 6, 2, 7, 3]);
        assert_eq!(quarter.u, [100, 200]);
        assert_eq!(picture(180, false).y, [7, 6, 5, 4, 3, 2, 1, 0]);
        let three = picture(270, false);
        assert_eq!(three.y, [3, 7, 2, 6, 1, 5, 0, 4]);
        assert_eq!(three.u, [200, 100]);
    }

    #[test]
    fn full_range_maps_to_limited_range() {
        assert_eq!(full_to_limited_luma(0), 16);
        assert_eq!(full_to_limited_luma(255), 235);
        assert_eq!(full_to_limited_chroma(0), 16);
        assert_eq!(full_to_limited_chroma(128), 128);
        assert_eq!(full_to_limited_chroma(255), 240);
        assert_eq!(picture(0, true).y[0], 16);
    }

    #[test]
    fn scaling_keeps_a_flat_picture_flat() {
        let flat = Picture {
            width: 64,
            height: 36,
            y: vec![80; 64 * 36],
            u: vec![128; 32 * 18],
            v: vec![128; 32 * 18],
        };
        let small = flat.scaled(&mut Resizer::new(), 32, 18).unwrap();
        assert_eq!((small.y.len(), small.u.len()), (32 * 18, 16 * 9));
        assert!(small.y.iter().all(|&s| s == 80));
    }
}
