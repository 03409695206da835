//! Error type for the audio → HLS transcoder, with stable machine-readable codes.

use crate::error::ErrorCode;

/// Everything that can stop a transcode; `code()` is stable and safe to store or expose.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The settings themselves are unusable (zero bitrate, non-positive segment length, …).
    #[error("invalid transcode settings: {0}")]
    InvalidSettings(String),
    /// The bytes are not a container symphonia recognizes.
    #[error("unsupported or unrecognized media format: {0}")]
    UnsupportedFormat(String),
    /// The container is recognized but holds no audio track we can decode.
    #[error("unsupported audio codec: {0}")]
    UnsupportedCodec(String),
    /// The file holds video (an MP4 or QuickTime movie with a video track), which Veza does not
    /// process yet.
    #[error("video is not supported yet: {0}")]
    UnsupportedVideo(String),
    /// An MP4/QuickTime file whose `moov` box (the index of its tracks and samples) is missing,
    /// cut off or malformed: without it nothing in the file can be located.
    #[error("the file's track index (`moov` box) is unreadable: {0}")]
    UnreadableMoov(String),
    /// The media is damaged, truncated, empty or declares absurd parameters.
    #[error("corrupt or undecodable media: {0}")]
    CorruptMedia(String),
    /// The audio is longer than the configured maximum.
    #[error("audio is too long: {actual_seconds:.1} s exceeds the limit of {max_seconds:.1} s")]
    TooLong {
        /// How much audio was seen (or declared) when the limit was hit.
        actual_seconds: f64,
        /// The configured limit.
        max_seconds: f64,
    },
    /// The caller asked us to stop.
    #[error("transcode cancelled")]
    Cancelled,
    /// The resampler, Opus encoder or MP4 muxer failed internally; not the input's fault.
    #[error("encoder failure: {0}")]
    Encoder(String),
    /// The sink refused a part (e.g. storage write failed); carries the sink's own message.
    #[error("output sink failed: {0}")]
    Sink(String),
}

impl TranscodeError {
    /// Its code in the catalogue, which also says whether a retry can help (internal or
    /// I/O-ish failures may be transient: memory pressure, a storage hiccup).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidSettings(_) => ErrorCode::InvalidSettings,
            Self::UnsupportedFormat(_) => ErrorCode::UnsupportedFormat,
            Self::UnsupportedCodec(_) => ErrorCode::UnsupportedCodec,
            Self::UnsupportedVideo(_) => ErrorCode::UnsupportedVideo,
            Self::UnreadableMoov(_) => ErrorCode::UnreadableMoov,
            Self::CorruptMedia(_) => ErrorCode::CorruptMedia,
            Self::TooLong { .. } => ErrorCode::TooLong,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Encoder(_) => ErrorCode::EncoderFailed,
            Self::Sink(_) => ErrorCode::StorageUnavailable,
        }
    }

    /// True when retrying the same input cannot succeed, so a job queue should not retry.
    pub fn is_permanent(&self) -> bool {
        self.code().is_permanent()
    }
}
