//! The catalogue of failure codes: every code a failed attempt can carry, whether retrying can
//! help, and the public message it shows when the failure carries no detail of its own. A code
//! is stored on the job (`jobs.error_code`), returned by the API and never changes meaning.

/// A stable, machine-readable reason a job attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // Infrastructure: a later attempt may succeed.
    /// Object storage could not be reached or refused a write (also a transcode's output sink).
    StorageUnavailable,
    /// Postgres could not be reached.
    DatabaseUnavailable,
    /// A follow-up job could not be queued.
    EnqueueFailed,
    /// A task of the worker stopped unexpectedly.
    WorkerTaskFailed,
    /// The attempt ran longer than its queue's time limit.
    TimedOut,
    /// The worker's scratch folder could not be written.
    ScratchUnwritable,
    /// The worker's scratch copy could not be read back.
    ScratchUnreadable,
    /// A decoder could not be set up (libheif's context).
    DecoderFailed,
    /// An encoder failed internally (resampler, Opus, AAC, JPEG, WebP, AVIF, PNG, the muxer).
    EncoderFailed,
    /// Resizing failed internally.
    ResizeFailed,
    /// Applying the orientation failed internally.
    OrientFailed,
    /// Computing the ThumbHash failed internally.
    ThumbhashFailed,
    /// The mail relay could not be reached.
    SmtpUnavailable,
    /// The relay refused our login: the SMTP credentials need fixing.
    SmtpAuthFailed,
    /// TLS with the relay failed: the SMTP URL or the relay's certificate needs fixing.
    SmtpTlsFailed,
    /// The mail outbox folder could not be written.
    OutboxUnwritable,
    /// The recipient got too many emails recently; a security email waits.
    RecipientRateLimited,
    /// A purge waits for the jobs of what it deletes to stop.
    JobsStillRunning,
    /// A webhook endpoint could not be reached or did not answer 2xx in time.
    WebhookFailed,

    // The owner's decision.
    /// The owner cancelled the job.
    Cancelled,

    // The input or the configuration: retrying the same job cannot help.
    /// The original upload is no longer stored.
    OriginalMissing,
    /// Not a format Veza reads.
    UnsupportedFormat,
    /// A container Veza reads, holding no audio it can decode.
    UnsupportedCodec,
    /// A movie with a video track: video is not processed yet.
    UnsupportedVideo,
    /// An MP4/QuickTime file whose track index (`moov`) is missing, cut off or malformed.
    UnreadableMoov,
    /// A video stream in a codec Veza does not decode.
    UnsupportedVideoCodec,
    /// A soundtrack in a codec Veza does not decode.
    UnsupportedAudioCodec,
    /// A video over a configured limit (pixels, frame rate, duration, bytes).
    VideoOverLimits,
    /// A video container that is damaged, truncated or not a video at all.
    CorruptVideo,
    /// Audio that is damaged, truncated, empty or declares absurd parameters.
    CorruptMedia,
    /// An image that claims a format but does not decode.
    CorruptImage,
    /// Stored waveform peaks that do not parse.
    CorruptWaveform,
    /// Audio longer than `VEZA_MAX_AUDIO_SECONDS`.
    TooLong,
    /// Audio larger than `VEZA_MAX_AUDIO_BYTES`.
    AudioTooLarge,
    /// An image over a byte, pixel or allocation limit.
    ImageTooLarge,
    /// A decoder crashed on this file (the panic was caught).
    DecoderCrashed,
    /// An audio item has no published transcode to picture.
    NoAudioOutputs,
    /// A video item has no published poster frame to picture.
    NoPoster,
    /// The transcode settings are unusable.
    InvalidSettings,
    /// An internal inconsistency of the transcode (a bug).
    TranscodeBug,
    /// An email template failed to render.
    TemplateFailed,
    /// The relay refused the message for good.
    SmtpRejected,
    /// `VEZA_EMAIL_FROM` is not an address.
    InvalidSender,
    /// The recipient is not an address.
    InvalidRecipient,
    /// The message could not be built.
    InvalidMessage,
    /// A purge of something that is not deleted (a bug): nothing was touched.
    NotDeleted,
    /// A webhook URL that is not allowed: a private, loopback or link-local address, or a
    /// name resolving to one (`VEZA_WEBHOOKS_ALLOW_PRIVATE` off).
    WebhookAddressForbidden,
    /// The webhook endpoint was disabled or deleted: nothing is sent to it.
    WebhookEndpointDisabled,
}

impl ErrorCode {
    /// Every code (a test checks each is spelled once; `entry` is the exhaustive table).
    pub const ALL: [Self; 48] = [
        Self::StorageUnavailable,
        Self::DatabaseUnavailable,
        Self::EnqueueFailed,
        Self::WorkerTaskFailed,
        Self::TimedOut,
        Self::ScratchUnwritable,
        Self::ScratchUnreadable,
        Self::DecoderFailed,
        Self::EncoderFailed,
        Self::ResizeFailed,
        Self::OrientFailed,
        Self::ThumbhashFailed,
        Self::SmtpUnavailable,
        Self::SmtpAuthFailed,
        Self::SmtpTlsFailed,
        Self::OutboxUnwritable,
        Self::RecipientRateLimited,
        Self::JobsStillRunning,
        Self::WebhookFailed,
        Self::Cancelled,
        Self::OriginalMissing,
        Self::UnsupportedFormat,
        Self::UnsupportedCodec,
        Self::UnsupportedVideo,
        Self::UnreadableMoov,
        Self::UnsupportedVideoCodec,
        Self::UnsupportedAudioCodec,
        Self::VideoOverLimits,
        Self::CorruptVideo,
        Self::CorruptMedia,
        Self::CorruptImage,
        Self::CorruptWaveform,
        Self::TooLong,
        Self::AudioTooLarge,
        Self::ImageTooLarge,
        Self::DecoderCrashed,
        Self::NoAudioOutputs,
        Self::NoPoster,
        Self::InvalidSettings,
        Self::TranscodeBug,
        Self::TemplateFailed,
        Self::SmtpRejected,
        Self::InvalidSender,
        Self::InvalidRecipient,
        Self::InvalidMessage,
        Self::NotDeleted,
        Self::WebhookAddressForbidden,
        Self::WebhookEndpointDisabled,
    ];

    /// The kebab-case spelling stored and shown.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// Whether retrying the same job cannot help.
    pub fn is_permanent(self) -> bool {
        self.entry().1 == Permanence::Permanent
    }

    /// What the owner is told when the failure carries no detail of its own.
    pub fn summary(self) -> &'static str {
        self.entry().2
    }

    /// The one table: spelling, permanence, public summary.
    fn entry(self) -> (&'static str, Permanence, &'static str) {
        use Permanence::{Permanent, Transient};
        match self {
            Self::StorageUnavailable => (
                "storage-unavailable",
                Transient,
                "object storage could not be reached",
            ),
            Self::DatabaseUnavailable => (
                "database-unavailable",
                Transient,
                "the database could not be reached",
            ),
            Self::EnqueueFailed => ("enqueue-failed", Transient, "a follow-up job could not be queued"),
            Self::WorkerTaskFailed => (
                "worker-task-failed",
                Transient,
                "the worker's task stopped unexpectedly",
            ),
            Self::TimedOut => (
                "timed-out",
                Transient,
                "the attempt ran longer than its time limit",
            ),
            Self::ScratchUnwritable => (
                "scratch-unwritable",
                Transient,
                "the worker's scratch space is not writable",
            ),
            Self::ScratchUnreadable => (
                "scratch-unreadable",
                Transient,
                "the worker's scratch copy is not readable",
            ),
            Self::DecoderFailed => ("decoder-failed", Transient, "the decoder could not be started"),
            Self::EncoderFailed => ("encoder-failed", Transient, "an encoder failed"),
            Self::ResizeFailed => ("resize-failed", Transient, "resizing failed"),
            Self::OrientFailed => ("orient-failed", Transient, "orienting the image failed"),
            Self::ThumbhashFailed => ("thumbhash-failed", Transient, "computing the placeholder failed"),
            Self::SmtpUnavailable => (
                "smtp-unavailable",
                Transient,
                "the mail relay could not be reached",
            ),
            Self::SmtpAuthFailed => (
                "smtp-auth-failed",
                Transient,
                "the mail relay refused our connection; the email waits",
            ),
            Self::SmtpTlsFailed => (
                "smtp-tls-failed",
                Transient,
                "the mail relay refused our connection; the email waits",
            ),
            Self::OutboxUnwritable => (
                "outbox-unwritable",
                Transient,
                "the mail outbox could not be written",
            ),
            Self::RecipientRateLimited => (
                "recipient-rate-limited",
                Transient,
                "the recipient got too many emails recently; this one waits",
            ),
            Self::JobsStillRunning => (
                "jobs-still-running",
                Transient,
                "the item's jobs are still stopping; the deletion waits",
            ),
            Self::WebhookFailed => (
                "webhook-failed",
                Transient,
                "the webhook endpoint did not accept the event; it will be sent again",
            ),
            Self::Cancelled => ("cancelled", Permanent, "cancelled by its owner"),
            Self::OriginalMissing => ("original-missing", Permanent, "the original is no longer stored"),
            Self::UnsupportedFormat => ("unsupported-format", Permanent, "not a format Veza reads"),
            Self::UnsupportedCodec => ("unsupported-codec", Permanent, "no audio Veza can decode"),
            Self::UnsupportedVideo => ("unsupported-video", Permanent, "video is not supported yet"),
            Self::UnreadableMoov => (
                "unreadable-moov",
                Permanent,
                "the file's track index is unreadable",
            ),
            Self::UnsupportedVideoCodec => (
                "unsupported-video-codec",
                Permanent,
                "the video is in a codec Veza does not read",
            ),
            Self::UnsupportedAudioCodec => (
                "unsupported-audio-codec",
                Permanent,
                "the video's soundtrack is in a codec Veza does not read",
            ),
            Self::VideoOverLimits => (
                "video-over-limits",
                Permanent,
                "the video is over this server's limits",
            ),
            Self::CorruptVideo => ("corrupt-video", Permanent, "the video is damaged or truncated"),
            Self::CorruptMedia => ("corrupt-media", Permanent, "the audio is damaged or truncated"),
            Self::CorruptImage => ("corrupt-image", Permanent, "the image is damaged or truncated"),
            Self::CorruptWaveform => ("corrupt-waveform", Permanent, "the stored waveform is damaged"),
            Self::TooLong => ("too-long", Permanent, "the audio is longer than the limit"),
            Self::AudioTooLarge => (
                "audio-too-large",
                Permanent,
                "the audio file is larger than the limit",
            ),
            Self::ImageTooLarge => ("image-too-large", Permanent, "the image is larger than the limit"),
            Self::DecoderCrashed => ("decoder-crashed", Permanent, "the decoder crashed on this file"),
            Self::NoAudioOutputs => (
                "no-audio-outputs",
                Permanent,
                "the audio item has no published transcode to picture",
            ),
            Self::NoPoster => (
                "no-poster",
                Permanent,
                "the video has no published poster frame to picture",
            ),
            Self::InvalidSettings => (
                "invalid-settings",
                Permanent,
                "the transcode settings are unusable",
            ),
            Self::TranscodeBug => ("transcode-bug", Permanent, "the transcode hit an internal error"),
            Self::TemplateFailed => ("template-failed", Permanent, "the email could not be rendered"),
            Self::SmtpRejected => ("smtp-rejected", Permanent, "the mail server refused the message"),
            Self::InvalidSender => ("invalid-sender", Permanent, "the sender address is not valid"),
            Self::InvalidRecipient => (
                "invalid-recipient",
                Permanent,
                "the recipient address is not valid",
            ),
            Self::InvalidMessage => ("invalid-message", Permanent, "the message could not be built"),
            Self::NotDeleted => (
                "not-deleted",
                Permanent,
                "the item is not deleted; nothing was purged",
            ),
            Self::WebhookAddressForbidden => (
                "webhook-address-forbidden",
                Permanent,
                "the webhook URL points at a private, loopback or link-local address",
            ),
            Self::WebhookEndpointDisabled => (
                "webhook-endpoint-disabled",
                Permanent,
                "the webhook endpoint is disabled or gone",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permanence {
    Permanent,
    Transient,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_spelled_once_in_kebab_case_with_a_summary() {
        let mut spellings: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(spellings.len(), ErrorCode::ALL.len(), "a spelling is used twice");
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert!(!code.summary().is_empty(), "{s}");
        }
    }
}
