//! Placeholder data: a ThumbHash and a dominant colour, both from a ≤100x100 downscale.

use crate::error::ErrorCode;
use base64::Engine;

use super::error::ThumbError;
use super::raster::Raster;
use super::resize;

/// Downscales `raster` to fit 100x100 (ThumbHash's maximum) and returns it as RGBA.
pub fn small_rgba(raster: &Raster) -> Result<Raster, ThumbError> {
    let long = raster.width.max(raster.height);
    let small = if long > 100 {
        let (w, h) = resize::fit(raster.width, raster.height, 100);
        resize::resize(raster, w, h)?
    } else {
        raster.clone()
    };
    if small.alpha {
        return Ok(small);
    }
    let mut rgba = Vec::with_capacity(small.data.len() / 3 * 4);
    for px in small.data.chunks_exact(3) {
        rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
    Raster::new(small.width, small.height, true, rgba)
}

/// The ThumbHash of a ≤100x100 RGBA raster, base64 (standard alphabet, padded).
pub fn thumbhash(small: &Raster) -> Result<String, ThumbError> {
    let (w, h) = (small.width as usize, small.height as usize);
    if !small.alpha || w > 100 || h > 100 || small.data.len() != w * h * 4 {
        return Err(ThumbError::new(
            ErrorCode::ThumbhashFailed,
            "thumbhash needs ≤100x100 RGBA",
        ));
    }
    let hash = thumbhash::rgba_to_thumb_hash(w, h, &small.data);
    Ok(base64::engine::general_purpose::STANDARD.encode(hash))
}

/// The dominant colour of an RGBA raster: the most populated cell of a 8x8x8 RGB histogram
/// (pixels under half opacity ignored), returned as the mean of the pixels in that cell.
/// Falls back to white for a fully transparent image.
pub fn dominant_color(small: &Raster) -> [u8; 3] {
    const CELLS: usize = 8 * 8 * 8;
    let mut count = vec![0u32; CELLS];
    let mut sum = vec![[0u64; 3]; CELLS];
    for px in small.data.chunks_exact(4) {
        if px[3] < 128 {
            continue;
        }
        let cell = (usize::from(px[0] >> 5) << 6) | (usize::from(px[1] >> 5) << 3) | usize::from(px[2] >> 5);
        count[cell] += 1;
        for c in 0..3 {
            sum[cell][c] += u64::from(px[c]);
        }
    }
    let Some((best, &n)) = count.iter().enumerate().max_by_key(|(_, n)| **n) else {
        return [255; 3];
    };
    if n == 0 {
        return [255; 3];
    }
    let mean = |c: usize| u8::try_from(sum[best][c] / u64::from(n)).unwrap_or(u8::MAX);
    [mean(0), mean(1), mean(2)]
}
