//! Error type for the audio → HLS transcoder, with stable machine-readable codes.

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
    /// Stable kebab-case identifier, suitable for persisting in a job record or API response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSettings(_) => "invalid-settings",
            Self::UnsupportedFormat(_) => "unsupported-format",
            Self::UnsupportedCodec(_) => "unsupported-codec",
            Self::UnsupportedVideo(_) => "unsupported-video",
            Self::UnreadableMoov(_) => "unreadable-moov",
            Self::CorruptMedia(_) => "corrupt-media",
            Self::TooLong { .. } => "too-long",
            Self::Cancelled => "cancelled",
            Self::Encoder(_) => "encoder",
            Self::Sink(_) => "sink",
        }
    }

    /// True when retrying the same input cannot succeed, so a job queue should not retry.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::InvalidSettings(_)
            | Self::UnsupportedFormat(_)
            | Self::UnsupportedCodec(_)
            | Self::UnsupportedVideo(_)
            | Self::UnreadableMoov(_)
            | Self::CorruptMedia(_)
            | Self::TooLong { .. }
            | Self::Cancelled => true,
            // Internal or I/O-ish failures may be transient (memory pressure, storage hiccup).
            Self::Encoder(_) | Self::Sink(_) => false,
        }
    }
}
