//! The renderer's error: a stable code, a message, and whether retrying can help.

use std::fmt;

use crate::error::ErrorCode;

/// Why rendering failed: a code from the catalogue (which says whether retrying can help) and
/// a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbError {
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl ThumbError {
    /// A failure with `code` and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// True when retrying the same input cannot succeed.
    pub fn is_permanent(&self) -> bool {
        self.code.is_permanent()
    }

    /// `corrupt-image`: the bytes claim a format but do not decode.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::CorruptImage, message)
    }

    /// `unsupported-format`: not an image format the renderer reads.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedFormat, message)
    }

    /// `image-too-large`: over a byte, pixel or allocation limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ImageTooLarge, message)
    }
}

impl fmt::Display for ThumbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ThumbError {}
