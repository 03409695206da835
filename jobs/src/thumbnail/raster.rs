//! An 8-bit sRGB pixel buffer (RGB or RGBA), the currency between the pipeline stages.

use super::error::ThumbError;

/// Tightly packed 8-bit sRGB pixels, 3 (RGB) or 4 (RGBA, straight alpha) bytes each.
#[derive(Debug, Clone)]
pub struct Raster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// True for RGBA, false for RGB.
    pub alpha: bool,
    /// Row-major pixel bytes.
    pub data: Vec<u8>,
}

impl Raster {
    /// Wraps `data`, checking its length against the dimensions.
    pub fn new(width: u32, height: u32, alpha: bool, data: Vec<u8>) -> Result<Self, ThumbError> {
        let expected = byte_len(width, height, if alpha { 4 } else { 3 });
        if expected != Some(data.len()) || width == 0 || height == 0 {
            return Err(ThumbError::corrupt(format!(
                "pixel buffer of {} bytes does not match {width}x{height}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            alpha,
            data,
        })
    }
}

/// `width * height * channels` as `usize`, or `None` on overflow.
pub fn byte_len(width: u32, height: u32, channels: u64) -> Option<usize> {
    u64::from(width)
        .checked_mul(u64::from(height))?
        .checked_mul(channels)
        .and_then(|n| usize::try_from(n).ok())
}
