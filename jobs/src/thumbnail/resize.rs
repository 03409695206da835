//! Which sizes to render, their dimensions, and SIMD Lanczos3 resampling (fast_image_resize).

use crate::error::ErrorCode;
use fast_image_resize::{
    FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
    images::{Image, ImageRef},
};

use super::error::ThumbError;
use super::raster::Raster;

/// The long sides to render for an original whose long side is `long_side`: the configured
/// sizes below it (never upscaling), ascending; or the original's own size when none is below.
pub fn plan_sizes(long_side: u32, sizes: &[u32]) -> Vec<u32> {
    let mut planned: Vec<u32> = sizes
        .iter()
        .copied()
        .filter(|s| *s > 0 && *s < long_side)
        .collect();
    planned.sort_unstable();
    planned.dedup();
    if planned.is_empty() {
        planned.push(long_side);
    }
    planned
}

/// Scales `(width, height)` so the long side is `size`, keeping the aspect ratio (at least 1 px).
pub fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let scale = |short: u32, long: u32| -> u32 {
        let scaled = (u64::from(short) * u64::from(size) + u64::from(long) / 2) / u64::from(long.max(1));
        u32::try_from(scaled.max(1)).unwrap_or(1)
    };
    if width >= height {
        (size, scale(height, width))
    } else {
        (scale(width, height), size)
    }
}

/// Resamples `src` to exactly `width` x `height` with Lanczos3 (alpha-aware for RGBA).
pub fn resize(src: &Raster, width: u32, height: u32) -> Result<Raster, ThumbError> {
    if (width, height) == (src.width, src.height) {
        return Ok(src.clone());
    }
    let pixel_type = if src.alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let failed =
        |err: &dyn std::fmt::Display| ThumbError::new(ErrorCode::ResizeFailed, format!("resizing: {err}"));
    let source = ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(|err| failed(&err))?;
    let mut target = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|err| failed(&err))?;
    Raster::new(width, height, src.alpha, target.into_vec())
}
