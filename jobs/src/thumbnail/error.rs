//! The renderer's error: a stable code, a message, and whether retrying can help.

use std::fmt;

/// Why rendering failed; `code` is stable (e.g. `corrupt-image`), `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbError {
    /// Stable machine-readable code: `unsupported-format`, `corrupt-image`, `image-too-large`, `encoder-failed`.
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
    /// True when retrying the same input cannot succeed.
    pub permanent: bool,
}

impl ThumbError {
    /// An error that will recur on every attempt with the same input.
    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            permanent: true,
        }
    }

    /// An error that a later attempt may not hit.
    pub fn transient(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            permanent: false,
        }
    }

    /// `corrupt-image`: the bytes claim a format but do not decode.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::permanent("corrupt-image", message)
    }

    /// `unsupported-format`: not an image format the renderer reads.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::permanent("unsupported-format", message)
    }

    /// `image-too-large`: over a byte, pixel or allocation limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::permanent("image-too-large", message)
    }
}

impl fmt::Display for ThumbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ThumbError {}
