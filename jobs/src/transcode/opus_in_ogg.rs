//! Opus in Ogg (`.opus`, RFC 7845), which symphonia 0.6 demuxes but cannot decode.
//!
//! Symphonia's Ogg reader splits the stream into Opus packets and works out, from the pages'
//! granule positions, how many samples of the last packet are end padding (`trim_end`). We
//! decode each packet with libopus (the `opus` crate, already used for encoding; its
//! multistream decoder covers mapping families 0, 1 and 255 alike), drop the first `pre_skip`
//! samples, apply the header's output gain, and hand out 48 kHz interleaved f32.
//!
//! Surround streams (mapping family 1) come out in WAVE channel order (the ascending
//! `Position` bit order symphonia uses), not Vorbis order, so [`OggOpusDecoder::channels`] can
//! be given to the same downmix as any other decoded source.

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::io::MediaSource;

use super::decode::MAX_CHANNELS;
use super::error::TranscodeError;

/// Opus always decodes at 48 kHz here (RFC 7845 recommends it whatever the input rate was).
pub const OPUS_RATE: u32 = 48_000;
/// Longest Opus packet: 120 ms at 48 kHz, per channel.
const MAX_PACKET_FRAMES: usize = 5_760;
/// How many leading bytes [`is_ogg_opus`] needs at most: one page header with a full segment
/// table (27 + 255) plus the 8-byte `OpusHead` magic.
pub const SNIFF_LEN: usize = 27 + 255 + 8;
/// Undecodable packets tolerated in a row, and in total, before the stream counts as corrupt.
const MAX_CONSECUTIVE_ERRORS: u32 = 16;
const MAX_TOTAL_ERRORS: u32 = 256;

/// True when `prefix` (the first bytes of a file, up to [`SNIFF_LEN`]) is an Ogg page whose
/// first packet is an Opus identification header.
pub fn is_ogg_opus(prefix: &[u8]) -> bool {
    if prefix.get(..4) != Some(b"OggS") {
        return false;
    }
    let Some(segments) = prefix.get(26) else {
        return false;
    };
    let start = 27 + usize::from(*segments);
    prefix.get(start..start + 8) == Some(b"OpusHead")
}

/// The Opus identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples at 48 kHz to discard from the start of the decoded stream.
    pub pre_skip: u16,
    /// The rate of the original input, for information only.
    pub input_sample_rate: u32,
    /// Gain to apply to the decoded output, in dB × 256 (Q7.8).
    pub output_gain_q8: i16,
    /// Channel mapping family: 0 (mono/stereo), 1 (Vorbis surround order), 255 (unordered).
    pub mapping_family: u8,
    /// Number of Opus streams in each packet.
    pub streams: u8,
    /// How many of those streams are coupled (stereo).
    pub coupled_streams: u8,
    /// For each output channel, the decoded channel it takes (255 = silence).
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parse and validate an `OpusHead` packet.
    pub fn parse(packet: &[u8]) -> Result<Self, TranscodeError> {
        let bad = |why: String| TranscodeError::CorruptMedia(format!("Opus header: {why}"));
        if packet.get(..8) != Some(b"OpusHead") {
            return Err(bad("missing OpusHead magic".into()));
        }
        let byte = |i: usize| packet.get(i).copied().ok_or_else(|| bad("truncated".into()));
        let le16 = |i: usize| -> Result<[u8; 2], TranscodeError> { Ok([byte(i)?, byte(i + 1)?]) };
        let version = byte(8)?;
        // The upper nibble is the major version; only 0 is defined and we must refuse others.
        if version >> 4 != 0 {
            return Err(TranscodeError::UnsupportedCodec(format!(
                "Opus header version {version}"
            )));
        }
        let channels = byte(9)?;
        let pre_skip = u16::from_le_bytes(le16(10)?);
        let input_sample_rate = u32::from_le_bytes([byte(12)?, byte(13)?, byte(14)?, byte(15)?]);
        let output_gain_q8 = i16::from_le_bytes(le16(16)?);
        let mapping_family = byte(18)?;
        if channels == 0 || usize::from(channels) > MAX_CHANNELS {
            return Err(bad(format!("implausible channel count {channels}")));
        }
        let (streams, coupled_streams, mapping) = if mapping_family == 0 {
            if channels > 2 {
                return Err(bad(format!("mapping family 0 with {channels} channels")));
            }
            (1, channels - 1, (0..channels).collect())
        } else {
            let streams = byte(19)?;
            let coupled = byte(20)?;
            let table = packet
                .get(21..21 + usize::from(channels))
                .ok_or_else(|| bad("truncated channel mapping".into()))?;
            (streams, coupled, table.to_vec())
        };
        let decoded = u16::from(streams) + u16::from(coupled_streams);
        if streams == 0 || coupled_streams > streams || decoded > 255 {
            return Err(bad(format!("{streams} streams with {coupled_streams} coupled")));
        }
        if let Some(bad_index) = mapping.iter().find(|m| **m != 255 && u16::from(**m) >= decoded) {
            return Err(bad(format!("mapping names channel {bad_index} of {decoded}")));
        }
        if mapping_family == 1 && channels > 8 {
            return Err(bad(format!("mapping family 1 with {channels} channels")));
        }
        Ok(Self {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain_q8,
            mapping_family,
            streams,
            coupled_streams,
            mapping,
        })
    }

    /// Linear factor of the output gain.
    pub fn gain_factor(&self) -> f32 {
        10f32.powf(f32::from(self.output_gain_q8) / 256.0 / 20.0)
    }
}

/// An open Ogg Opus stream, decoding to 48 kHz interleaved f32.
pub struct OggOpusDecoder {
    reader: Box<dyn FormatReader>,
    decoder: opus::MSDecoder,
    track_id: u32,
    head: OpusHead,
    /// Output order: output channel `j` is decoded channel `order[j]`.
    order: Vec<usize>,
    layout: Channels,
    gain: f32,
    skip_left: u64,
    decoded: Vec<f32>,
    pcm: Vec<f32>,
    frames_out: u64,
    consecutive_errors: u32,
    total_errors: u32,
}

/// Probe `source`, check that its audio track is Opus, and prepare a decoder for it.
pub fn open(source: Box<dyn MediaSource>) -> Result<OggOpusDecoder, TranscodeError> {
    let reader = super::decode::probe(source)?;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| TranscodeError::UnsupportedCodec("no audio track found".into()))?;
    let Some(CodecParameters::Audio(params)) = &track.codec_params else {
        return Err(TranscodeError::UnsupportedCodec(
            "track has no audio parameters".into(),
        ));
    };
    if params.codec != CODEC_ID_OPUS {
        return Err(TranscodeError::UnsupportedCodec(
            "the audio track is not Opus".into(),
        ));
    }
    let head = OpusHead::parse(params.extra_data.as_deref().unwrap_or_default())?;
    let track_id = track.id;
    let decoder = opus::MSDecoder::new(OPUS_RATE, head.streams, head.coupled_streams, &head.mapping)
        .map_err(|e| TranscodeError::CorruptMedia(format!("Opus decoder refused the header: {e}")))?;
    let (order, layout) = output_layout(&head);
    Ok(OggOpusDecoder {
        reader,
        decoder,
        track_id,
        gain: head.gain_factor(),
        skip_left: u64::from(head.pre_skip),
        decoded: vec![0.0; MAX_PACKET_FRAMES * usize::from(head.channels)],
        head,
        order,
        layout,
        pcm: Vec::new(),
        frames_out: 0,
        consecutive_errors: 0,
        total_errors: 0,
    })
}

/// Vorbis channel order for mapping family 1, by channel count (RFC 7845 §5.1.1.2).
fn vorbis_positions(channels: u8) -> Option<Vec<Position>> {
    use Position as P;
    let (fl, fr, fc, lfe) = (P::FRONT_LEFT, P::FRONT_RIGHT, P::FRONT_CENTER, P::LFE1);
    let (rl, rr, sl, sr, rc) = (
        P::REAR_LEFT,
        P::REAR_RIGHT,
        P::SIDE_LEFT,
        P::SIDE_RIGHT,
        P::REAR_CENTER,
    );
    Some(match channels {
        1 => vec![fc],
        2 => vec![fl, fr],
        3 => vec![fl, fc, fr],
        4 => vec![fl, fr, rl, rr],
        5 => vec![fl, fc, fr, rl, rr],
        6 => vec![fl, fc, fr, rl, rr, lfe],
        7 => vec![fl, fc, fr, sl, sr, rc, lfe],
        8 => vec![fl, fc, fr, sl, sr, rl, rr, lfe],
        _ => return None,
    })
}

/// The output permutation and layout: WAVE order for known layouts, as decoded otherwise.
fn output_layout(head: &OpusHead) -> (Vec<usize>, Channels) {
    let positions = match head.mapping_family {
        0 | 1 => vorbis_positions(head.channels),
        _ => None,
    };
    let identity: Vec<usize> = (0..usize::from(head.channels)).collect();
    match positions {
        Some(positions) => {
            let mut order = identity;
            order.sort_by_key(|i| positions.get(*i).map_or(u64::MAX, |p| p.bits()));
            let all = positions.iter().fold(Position::empty(), |acc, p| acc | *p);
            (order, Channels::Positioned(all))
        }
        None => (identity, Channels::Discrete(u16::from(head.channels))),
    }
}

impl OggOpusDecoder {
    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The layout of the interleaved output (WAVE order for mapping families 0 and 1).
    pub fn channels(&self) -> &Channels {
        &self.layout
    }

    /// Number of interleaved output channels.
    pub fn channel_count(&self) -> usize {
        usize::from(self.head.channels)
    }

    /// Frames handed out so far (after pre-skip and end trimming).
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Decode the next packet; `None` at end of stream. The slice is 48 kHz interleaved f32.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, TranscodeError> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                // End, the start of a chained stream, or a cut-off tail: keep what decoded.
                Ok(None) | Err(SymError::ResetRequired) => return self.end_of_stream(),
                Err(SymError::IoError(io)) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.end_of_stream();
                }
                Err(SymError::DecodeError(msg)) => {
                    self.note_error(msg)?;
                    continue;
                }
                Err(e) => return Err(TranscodeError::CorruptMedia(format!("cannot read packet: {e}"))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let frames = match self.decoder.decode_float(&packet.data, &mut self.decoded, false) {
                Ok(n) => n.min(MAX_PACKET_FRAMES),
                Err(_) => {
                    self.note_error("undecodable Opus packet")?;
                    continue;
                }
            };
            self.consecutive_errors = 0;
            // Padding at the end of the last packet, from the last page's granule position.
            let trim_end = usize::try_from(packet.trim_end.get()).unwrap_or(usize::MAX);
            let mut keep = frames.saturating_sub(trim_end);
            let skip = usize::try_from(self.skip_left).unwrap_or(usize::MAX).min(keep);
            self.skip_left -= skip as u64;
            keep -= skip;
            if keep == 0 {
                continue;
            }
            self.emit(skip, keep);
            return Ok(Some(&self.pcm));
        }
    }

    /// Copy `count` frames starting at frame `first` of the decoded buffer into `pcm`,
    /// reordered and with the output gain applied.
    fn emit(&mut self, first: usize, count: usize) {
        let ch = self.channel_count();
        self.pcm.clear();
        self.pcm.reserve(count * ch);
        let frames = self.decoded.chunks_exact(ch).skip(first).take(count);
        for frame in frames {
            for &i in &self.order {
                self.pcm.push(frame.get(i).copied().unwrap_or(0.0) * self.gain);
            }
        }
        self.frames_out = self.frames_out.saturating_add(count as u64);
    }

    fn end_of_stream(&self) -> Result<Option<&[f32]>, TranscodeError> {
        if self.frames_out == 0 {
            Err(TranscodeError::CorruptMedia("no decodable Opus audio".into()))
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

#[cfg(test)]
mod tests;
