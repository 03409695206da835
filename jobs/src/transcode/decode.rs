//! Symphonia front end: probes the container, picks the audio track and yields interleaved f32.

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::error::TranscodeError;

/// Lowest input rate we accept; anything below is almost certainly a garbage header.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// Highest input rate we accept (DXD / 768 kHz is the highest in real use).
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// Highest channel count we accept; bounds per-frame work and memory on hostile headers.
pub const MAX_CHANNELS: usize = 32;
/// Consecutive undecodable packets tolerated before we call the stream corrupt.
const MAX_CONSECUTIVE_ERRORS: u32 = 16;
/// Total undecodable packets tolerated over the whole stream.
const MAX_TOTAL_ERRORS: u32 = 256;

/// Sample rate and channel layout of the decoded PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmFormat {
    /// Input sample rate in Hz.
    pub sample_rate: u32,
    /// Symphonia's channel description, used to pick downmix weights.
    pub channels: Channels,
}

impl PcmFormat {
    /// Number of interleaved channels.
    pub fn channel_count(&self) -> usize {
        self.channels.count()
    }
}

/// A probed source with an open decoder for its default audio track.
pub struct SourceDecoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    format: Option<PcmFormat>,
    pcm: Vec<f32>,
    decoded_frames: u64,
    consecutive_errors: u32,
    total_errors: u32,
}

/// Probes `source` by content (no hint on purpose: uploads' names and MIME types are untrusted)
/// and opens its container; every front end (decoders, metadata) starts here.
pub(super) fn probe(source: Box<dyn MediaSource>) -> Result<Box<dyn FormatReader>, TranscodeError> {
    let mss = MediaSourceStream::new(source, Default::default());
    symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(probe_error)
}

/// Probe `source` by content and open a decoder for its default audio track.
pub fn open(source: Box<dyn MediaSource>) -> Result<SourceDecoder, TranscodeError> {
    let reader = probe(source)?;

    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| TranscodeError::UnsupportedCodec("no audio track found".into()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| TranscodeError::UnsupportedCodec("track has no audio parameters".into()))?
        .clone();

    // Reject absurd declared parameters before a decoder sizes buffers from them.
    if let Some(rate) = params.sample_rate {
        check_rate(rate)?;
    }
    if let Some(ch) = &params.channels {
        check_channels(ch.count())?;
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(msg) => TranscodeError::UnsupportedCodec(msg.to_string()),
            other => TranscodeError::CorruptMedia(format!("cannot initialise decoder: {other}")),
        })?;

    Ok(SourceDecoder {
        reader,
        decoder,
        track_id,
        format: None,
        pcm: Vec::new(),
        decoded_frames: 0,
        consecutive_errors: 0,
        total_errors: 0,
    })
}

/// Maps a probe failure to our error: unknown container, or a damaged/truncated header.
fn probe_error(e: SymError) -> TranscodeError {
    match e {
        SymError::Unsupported(msg) => TranscodeError::UnsupportedFormat(msg.to_string()),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            TranscodeError::CorruptMedia(format!("file ends inside its header ({io})"))
        }
        other => TranscodeError::CorruptMedia(format!("cannot read container: {other}")),
    }
}

fn check_rate(rate: u32) -> Result<(), TranscodeError> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(TranscodeError::CorruptMedia(format!(
            "implausible sample rate {rate} Hz"
        )))
    }
}

fn check_channels(count: usize) -> Result<(), TranscodeError> {
    if (1..=MAX_CHANNELS).contains(&count) {
        Ok(())
    } else {
        Err(TranscodeError::CorruptMedia(format!(
            "implausible channel count {count}"
        )))
    }
}

impl SourceDecoder {
    /// Short name of the source codec as symphonia reports it (e.g. "flac", "mp3").
    pub fn codec_name(&self) -> &'static str {
        self.decoder.codec_info().short_name
    }

    /// Stream facts, tags and cover art from the probe (consumes the queued metadata revisions).
    pub fn metadata(&mut self) -> Result<super::metadata::AudioMetadata, TranscodeError> {
        super::metadata::from_reader(self.reader.as_mut())
    }

    /// Decode the next packet; `None` at end of stream. The slice is interleaved f32.
    pub fn next_chunk(&mut self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return self.end_of_stream(),
                // Chained Ogg streams ask for a reset; we treat the first link as the whole file.
                Err(SymError::ResetRequired) => return self.end_of_stream(),
                Err(SymError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // A cut-off tail after good audio is common (interrupted uploads); keep what
                    // decoded. With nothing decoded it is plainly corrupt.
                    return self.end_of_stream();
                }
                Err(SymError::DecodeError(msg)) => {
                    self.note_error(msg)?;
                    continue;
                }
                Err(e) => {
                    return Err(TranscodeError::CorruptMedia(format!("cannot read packet: {e}")));
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::DecodeError(msg)) => {
                    self.note_error(msg)?;
                    continue;
                }
                Err(SymError::IoError(_)) => {
                    self.note_error("packet truncated")?;
                    continue;
                }
                Err(SymError::Unsupported(msg)) => {
                    return Err(TranscodeError::UnsupportedCodec(msg.to_string()));
                }
                Err(e) => return Err(TranscodeError::CorruptMedia(format!("decode failed: {e}"))),
            };
            self.consecutive_errors = 0;
            if buf.frames() == 0 {
                continue;
            }
            let spec = buf.spec();
            let fmt = PcmFormat {
                sample_rate: spec.rate(),
                channels: spec.channels().clone(),
            };
            check_rate(fmt.sample_rate)?;
            check_channels(fmt.channel_count())?;
            if buf.num_planes() != fmt.channel_count() {
                return Err(TranscodeError::CorruptMedia(
                    "decoder returned a buffer inconsistent with its channel layout".into(),
                ));
            }
            match &self.format {
                None => self.format = Some(fmt),
                // Mid-stream format changes (possible in MP3/Ogg) would need a second
                // resampler/encoder config; HLS renditions can't change either, so refuse.
                Some(prev)
                    if prev.sample_rate != fmt.sample_rate || prev.channel_count() != fmt.channel_count() =>
                {
                    return Err(TranscodeError::CorruptMedia(format!(
                        "audio format changes mid-stream ({} Hz/{} ch → {} Hz/{} ch)",
                        prev.sample_rate,
                        prev.channel_count(),
                        fmt.sample_rate,
                        fmt.channel_count()
                    )));
                }
                Some(_) => {}
            }
            self.decoded_frames = self
                .decoded_frames
                .saturating_add(u64::try_from(buf.frames()).unwrap_or(u64::MAX));
            buf.copy_to_vec_interleaved(&mut self.pcm);
            let Some(fmt) = self.format.as_ref() else {
                return Err(TranscodeError::Encoder("decoder format lost".into()));
            };
            return Ok(Some((fmt, &self.pcm)));
        }
    }

    fn end_of_stream(&self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError> {
        if self.decoded_frames == 0 {
            Err(TranscodeError::CorruptMedia("no decodable audio frames".into()))
        } else {
            Ok(None)
        }
    }

    fn note_error(&mut self, msg: &str) -> Result<(), TranscodeError> {
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        self.total_errors = self.total_errors.saturating_add(1);
        if self.consecutive_errors > MAX_CONSECUTIVE_ERRORS || self.total_errors > MAX_TOTAL_ERRORS {
            return Err(TranscodeError::CorruptMedia(format!(
                "too many undecodable packets (last: {msg})"
            )));
        }
        Ok(())
    }
}
