//! fdk-aac wrapper: AAC-LC at 48 kHz in 1024-sample frames, raw access units for fMP4, the
//! AudioSpecificConfig for `esds`, and the encoder delay for the edit list.

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use super::error::TranscodeError;

/// Samples per channel in one AAC-LC access unit.
pub const FRAME_SAMPLES: usize = 1024;
/// Bitrates fdk-aac accepts for AAC-LC at 48 kHz, 1–2 channels.
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 16_000..=320_000;

/// An AAC-LC encoder fed with interleaved f32 at 48 kHz in exact 1024-sample frames.
pub struct AacEncoder {
    inner: Encoder,
    channels: usize,
    priming: u32,
    config: Vec<u8>,
    input: Vec<i16>,
    output: Vec<u8>,
}

fn enc_err(err: fdk_aac::enc::EncoderError) -> TranscodeError {
    TranscodeError::Encoder(format!("aac: {err}"))
}

impl AacEncoder {
    /// A constant-bitrate AAC-LC encoder for 1 or 2 channels.
    pub fn new(channels: usize, bitrate_bps: u32) -> Result<Self, TranscodeError> {
        let mode = match channels {
            1 => ChannelMode::Mono,
            2 => ChannelMode::Stereo,
            n => {
                return Err(TranscodeError::Encoder(format!(
                    "aac supports 1 or 2 channels, got {n}"
                )));
            }
        };
        if !BITRATE_RANGE.contains(&bitrate_bps) {
            return Err(TranscodeError::InvalidSettings(format!(
                "aac bitrate {bitrate_bps} bps outside {BITRATE_RANGE:?}"
            )));
        }
        let inner = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_bps),
            sample_rate: 48_000,
            transport: Transport::Raw,
            channels: mode,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(enc_err)?;
        let info = inner.info().map_err(enc_err)?;
        if info.frameLength as usize != FRAME_SAMPLES {
            return Err(TranscodeError::Encoder(format!(
                "aac frame length {} (expected {FRAME_SAMPLES})",
                info.frameLength
            )));
        }
        let config = info
            .confBuf
            .get(..info.confSize as usize)
            .map(<[u8]>::to_vec)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| TranscodeError::Encoder("aac: no AudioSpecificConfig".into()))?;
        Ok(Self {
            inner,
            channels,
            priming: info.nDelay,
            config,
            input: Vec::with_capacity(FRAME_SAMPLES * channels),
            output: vec![0; (info.maxOutBufBytes as usize).max(8192)],
        })
    }

    /// Samples (at 48 kHz) of encoder delay at the start of the decoded stream.
    pub fn priming(&self) -> u32 {
        self.priming
    }

    /// The AudioSpecificConfig for the `esds` box.
    pub fn audio_specific_config(&self) -> &[u8] {
        &self.config
    }

    /// Interleaved sample count of one frame.
    pub fn frame_len(&self) -> usize {
        FRAME_SAMPLES * self.channels
    }

    /// Encodes one frame. fdk-aac buffers internally, so a call yields zero or one access unit
    /// (appended to `packets`); every unit stands for 1024 samples of media time.
    pub fn encode_frame(&mut self, pcm: &[f32], packets: &mut Vec<Vec<u8>>) -> Result<(), TranscodeError> {
        if pcm.len() != self.frame_len() {
            return Err(TranscodeError::Encoder(format!(
                "frame has {} samples, expected {}",
                pcm.len(),
                self.frame_len()
            )));
        }
        self.input.clear();
        // Saturating float → i16 (`as` clamps); fdk-aac takes 16-bit PCM only.
        self.input
            .extend(pcm.iter().map(|s| (s * 32_768.0).round() as i16));
        let mut offset = 0;
        while offset < self.input.len() {
            let rest = self.input.get(offset..).unwrap_or_default();
            let info = self.inner.encode(rest, &mut self.output).map_err(enc_err)?;
            if info.output_size > 0 {
                let unit = self
                    .output
                    .get(..info.output_size)
                    .ok_or_else(|| TranscodeError::Encoder("aac returned an oversized unit".into()))?;
                packets.push(unit.to_vec());
            }
            if info.input_consumed == 0 && info.output_size == 0 {
                return Err(TranscodeError::Encoder("aac encoder made no progress".into()));
            }
            offset += info.input_consumed;
        }
        Ok(())
    }
}
