//! Applies an EXIF orientation (all 8) to a raster.

use crate::error::ErrorCode;
use image::{DynamicImage, ImageBuffer, metadata::Orientation};

use super::error::ThumbError;
use super::raster::Raster;

/// True when `orientation` swaps width and height (the four 90°/270° variants).
pub fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Returns `raster` turned/flipped as `orientation` says, so it displays upright.
pub fn apply(raster: Raster, orientation: Orientation) -> Result<Raster, ThumbError> {
    if orientation == Orientation::NoTransforms {
        return Ok(raster);
    }
    let bad = || ThumbError::new(ErrorCode::OrientFailed, "pixel buffer does not match its size");
    let (width, height, alpha) = (raster.width, raster.height, raster.alpha);
    let mut image = if alpha {
        DynamicImage::ImageRgba8(ImageBuffer::from_raw(width, height, raster.data).ok_or_else(bad)?)
    } else {
        DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, raster.data).ok_or_else(bad)?)
    };
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let data = if alpha {
        image.into_rgba8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    Raster::new(width, height, alpha, data)
}
