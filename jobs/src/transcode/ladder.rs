//! The adaptive ladder: which renditions a transcode makes, and one encoder per rendition behind
//! a common face (frame size, priming, packets out, the track description for the init segment).

use std::fmt;

use super::aac::{self, AacEncoder};
use super::encode::{self, OpusEncoder};
use super::error::TranscodeError;
use super::fmp4::{TrackCodec, TrackConfig};

/// A rendition's codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Opus (RFC 7845 in ISO BMFF): the best quality per bit; Chrome, Firefox, Safari 17+.
    Opus,
    /// AAC-LC: plays natively on every Apple device and everywhere else.
    Aac,
}

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendition {
    /// Codec.
    pub codec: AudioCodec,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
}

impl Rendition {
    /// The default ladder: Opus 64/128/192 kbps and AAC-LC 160 kbps.
    pub fn default_ladder() -> Vec<Rendition> {
        vec![
            Rendition::new(AudioCodec::Aac, 160_000),
            Rendition::new(AudioCodec::Opus, 64_000),
            Rendition::new(AudioCodec::Opus, 128_000),
            Rendition::new(AudioCodec::Opus, 192_000),
        ]
    }

    /// A rendition of `codec` at `bitrate_bps`.
    pub const fn new(codec: AudioCodec, bitrate_bps: u32) -> Self {
        Self { codec, bitrate_bps }
    }

    /// Parses a ladder such as `aac:160,opus:64,opus:128` (kbps), in master playlist order.
    pub fn parse_ladder(spec: &str) -> Result<Vec<Rendition>, String> {
        let ladder = spec
            .split(',')
            .map(str::trim)
            .filter(|rung| !rung.is_empty())
            .map(|rung| {
                let (codec, kbps) = rung
                    .split_once(':')
                    .ok_or_else(|| format!("`{rung}`: expected codec:kbps, e.g. opus:128"))?;
                let codec = match codec.trim() {
                    "opus" => AudioCodec::Opus,
                    "aac" => AudioCodec::Aac,
                    other => return Err(format!("`{rung}`: unknown codec `{other}` (opus or aac)")),
                };
                let kbps: u32 = kbps
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{rung}`: the bitrate must be whole kbps"))?;
                let rendition = Rendition::new(codec, kbps.saturating_mul(1000));
                rendition.validate()?;
                Ok(rendition)
            })
            .collect::<Result<Vec<_>, String>>()?;
        if ladder.is_empty() {
            return Err("the ladder needs at least one rendition".into());
        }
        let mut names: Vec<String> = ladder.iter().map(Rendition::name).collect();
        names.sort();
        names.dedup();
        if names.len() != ladder.len() {
            return Err("the ladder names a rendition twice".into());
        }
        Ok(ladder)
    }

    /// Checks the bitrate against what the codec accepts.
    pub fn validate(&self) -> Result<(), String> {
        let range = match self.codec {
            AudioCodec::Opus => encode::BITRATE_RANGE,
            AudioCodec::Aac => aac::BITRATE_RANGE,
        };
        if range.contains(&self.bitrate_bps) {
            Ok(())
        } else {
            Err(format!("{self}: bitrate outside {range:?} bps"))
        }
    }

    /// The name its files carry, e.g. `opus-128k`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The `CODECS` attribute value (RFC 6381) for the master playlist.
    pub fn codecs_attr(&self) -> &'static str {
        match self.codec {
            // The sample entry's four-character code, as the Opus-in-ISOBMFF spec asks.
            AudioCodec::Opus => "Opus",
            AudioCodec::Aac => "mp4a.40.2",
        }
    }
}

impl fmt::Display for Rendition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codec = match self.codec {
            AudioCodec::Opus => "opus",
            AudioCodec::Aac => "aac",
        };
        write!(f, "{codec}-{}k", self.bitrate_bps / 1000)
    }
}

/// The encoder of one rendition.
pub enum RenditionEncoder {
    /// libopus.
    Opus(OpusEncoder),
    /// fdk-aac.
    Aac(AacEncoder),
}

impl RenditionEncoder {
    /// An encoder for `rendition` taking `channels` (1 or 2) at 48 kHz.
    pub fn new(rendition: &Rendition, channels: usize) -> Result<Self, TranscodeError> {
        rendition.validate().map_err(TranscodeError::InvalidSettings)?;
        Ok(match rendition.codec {
            AudioCodec::Opus => Self::Opus(OpusEncoder::new(channels, rendition.bitrate_bps)?),
            AudioCodec::Aac => Self::Aac(AacEncoder::new(channels, rendition.bitrate_bps)?),
        })
    }

    /// Samples per channel one packet stands for.
    pub fn frame_samples(&self) -> usize {
        match self {
            Self::Opus(_) => encode::FRAME_SAMPLES,
            Self::Aac(_) => aac::FRAME_SAMPLES,
        }
    }

    /// Interleaved samples one call of [`Self::encode_frame`] takes.
    pub fn frame_len(&self) -> usize {
        match self {
            Self::Opus(e) => e.frame_len(),
            Self::Aac(e) => e.frame_len(),
        }
    }

    /// Samples of encoder delay at the start of the decoded stream (hidden by the edit list).
    pub fn priming(&self) -> u64 {
        match self {
            Self::Opus(e) => u64::from(e.pre_skip()),
            Self::Aac(e) => u64::from(e.priming()),
        }
    }

    /// Encodes one frame, appending the packets it yields (Opus: one; AAC: zero or one).
    pub fn encode_frame(&mut self, pcm: &[f32], packets: &mut Vec<Vec<u8>>) -> Result<(), TranscodeError> {
        match self {
            Self::Opus(e) => {
                packets.push(e.encode_frame(pcm)?);
                Ok(())
            }
            Self::Aac(e) => e.encode_frame(pcm, packets),
        }
    }

    /// What the init segment says about this rendition's track.
    pub fn track(&self, channels: u16, bitrate_bps: u32) -> TrackConfig {
        let codec = match self {
            Self::Opus(e) => TrackCodec::Opus {
                pre_skip: e.pre_skip(),
            },
            Self::Aac(e) => TrackCodec::Aac {
                audio_specific_config: e.audio_specific_config().to_vec(),
                bitrate_bps,
            },
        };
        TrackConfig {
            codec,
            channels,
            priming: self.priming(),
            frame_samples: self.frame_samples() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ladders_parse_in_order_and_bad_ones_say_why() {
        assert_eq!(
            Rendition::parse_ladder("aac:160, opus:64,opus:128").unwrap(),
            vec![
                Rendition::new(AudioCodec::Aac, 160_000),
                Rendition::new(AudioCodec::Opus, 64_000),
                Rendition::new(AudioCodec::Opus, 128_000),
            ]
        );
        assert_eq!(Rendition::new(AudioCodec::Opus, 128_000).name(), "opus-128k");
        assert!(Rendition::parse_ladder("").unwrap_err().contains("at least one"));
        assert!(
            Rendition::parse_ladder("mp3:128")
                .unwrap_err()
                .contains("unknown codec")
        );
        assert!(
            Rendition::parse_ladder("opus:1")
                .unwrap_err()
                .contains("bitrate outside")
        );
        assert!(
            Rendition::parse_ladder("opus:128,opus:128")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            Rendition::parse_ladder("opus")
                .unwrap_err()
                .contains("codec:kbps")
        );
    }
}
