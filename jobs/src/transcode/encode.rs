//! libopus wrapper: fixed 20 ms frames at 48 kHz, pre-skip reporting and silent tail padding.

use super::error::TranscodeError;

/// Samples per channel in one Opus packet (20 ms at 48 kHz): the best quality/overhead trade-off.
pub const FRAME_SAMPLES: usize = 960;
/// Largest packet libopus can emit for one frame (RFC 6716 recommends a 4000-byte buffer).
const MAX_PACKET_BYTES: usize = 4000;
/// Bitrates libopus accepts for our 1–2 channel streams.
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 6_000..=510_000;

/// An Opus encoder fed with interleaved f32 at 48 kHz in exact 20 ms frames.
pub struct OpusEncoder {
    inner: opus::Encoder,
    channels: usize,
    pre_skip: u16,
    packet: Vec<u8>,
}

impl OpusEncoder {
    /// Create a music-tuned encoder for 1 or 2 channels at the given bitrate.
    pub fn new(channels: usize, bitrate_bps: u32) -> Result<Self, TranscodeError> {
        let layout = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => {
                return Err(TranscodeError::Encoder(format!(
                    "opus family 0 supports 1 or 2 channels, got {n}"
                )));
            }
        };
        let enc_err = |e: opus::Error| TranscodeError::Encoder(format!("opus: {e}"));
        let mut inner = opus::Encoder::new(48_000, layout, opus::Application::Audio).map_err(enc_err)?;
        let bitrate = i32::try_from(bitrate_bps)
            .map_err(|_| TranscodeError::InvalidSettings("bitrate out of range".into()))?;
        inner.set_bitrate(opus::Bitrate::Bits(bitrate)).map_err(enc_err)?;
        // Constrained VBR keeps segment sizes (and so the HLS BANDWIDTH) predictable.
        inner.set_vbr_constraint(true).map_err(enc_err)?;
        let lookahead = inner.get_lookahead().map_err(enc_err)?;
        let pre_skip = u16::try_from(lookahead)
            .map_err(|_| TranscodeError::Encoder(format!("unexpected lookahead {lookahead}")))?;
        Ok(Self {
            inner,
            channels,
            pre_skip,
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Samples (at 48 kHz) the decoder must discard at the start: the encoder's lookahead.
    pub fn pre_skip(&self) -> u16 {
        self.pre_skip
    }

    /// Interleaved sample count of one frame.
    pub fn frame_len(&self) -> usize {
        FRAME_SAMPLES * self.channels
    }

    /// Encode exactly one 20 ms frame of interleaved samples into an Opus packet.
    pub fn encode_frame(&mut self, pcm: &[f32]) -> Result<Vec<u8>, TranscodeError> {
        if pcm.len() != self.frame_len() {
            return Err(TranscodeError::Encoder(format!(
                "frame has {} samples, expected {}",
                pcm.len(),
                self.frame_len()
            )));
        }
        let n = self
            .inner
            .encode_float(pcm, &mut self.packet)
            .map_err(|e| TranscodeError::Encoder(format!("opus encode: {e}")))?;
        self.packet
            .get(..n)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| TranscodeError::Encoder("opus returned an oversized packet".into()))
    }
}
