//! One rung's encoder, whichever its codec: rav1e for the AV1 ladder, OpenH264 for the H.264
//! rung. Both put a keyframe at every segment start and nowhere else, and hand out one packet
//! per frame in display order, ready to be an fMP4 sample.

use bytes::Bytes;
use veza_av1::{Av1Encoder, Av1Packet, Av1Settings};

use super::{
    fmp4,
    h264::{H264Encoder, H264Packet, H264Settings},
    limits::VideoSettings,
    picture::{Picture, chroma_size},
    plan::{Plan, Rung, VideoCodec},
};

/// One encoded frame.
pub struct Packet {
    /// The sample's bytes.
    pub data: Vec<u8>,
    /// Whether it is a keyframe (a sync sample).
    pub keyframe: bool,
}

impl From<Av1Packet> for Packet {
    fn from(p: Av1Packet) -> Self {
        Self {
            data: p.data,
            keyframe: p.keyframe,
        }
    }
}

impl From<H264Packet> for Packet {
    fn from(p: H264Packet) -> Self {
        Self {
            data: p.data,
            keyframe: p.keyframe,
        }
    }
}

/// Either encoder's packets as [`Packet`]s, its error as text.
fn packets<P: Into<Packet>, E: std::fmt::Display>(out: Result<Vec<P>, E>) -> Result<Vec<Packet>, String> {
    out.map(|ps| ps.into_iter().map(Into::into).collect())
        .map_err(|err| err.to_string())
}

/// A rung's encoder.
pub enum RungEncoder {
    /// rav1e.
    Av1(Box<Av1Encoder>),
    /// OpenH264.
    H264(Box<H264Encoder>),
}

impl RungEncoder {
    /// The encoder of `rung` under `plan` (a keyframe every segment).
    pub fn new(rung: &Rung, plan: &Plan, settings: &VideoSettings) -> Result<Self, String> {
        let keyint = u64::from(plan.segment_frames);
        Ok(match rung.codec {
            VideoCodec::Av1 => {
                let av1 = Av1Settings {
                    speed: settings.av1_speed,
                    tiles: settings.av1_tiles,
                    threads: settings.av1_threads,
                    bitrate_kbps: rung.kbps,
                    // In bitrate mode rav1e caps its quantizer here: 255 leaves rate control
                    // free (0 would force near-lossless frames whatever the target).
                    quantizer: 255,
                };
                Self::Av1(Box::new(
                    Av1Encoder::new(rung.width, rung.height, plan.frame_rate, keyint, &av1)
                        .map_err(|err| err.to_string())?,
                ))
            }
            VideoCodec::H264 => {
                let h264 = H264Settings {
                    bitrate_kbps: rung.kbps,
                    threads: 1,
                };
                Self::H264(Box::new(
                    H264Encoder::new(rung.width, rung.height, plan.frame_rate, keyint, &h264)
                        .map_err(|err| err.to_string())?,
                ))
            }
        })
    }

    /// Encodes `picture` (already at the rung's size); returns the packets that are ready.
    pub fn send(&mut self, picture: &Picture) -> Result<Vec<Packet>, String> {
        let (width, cw) = (
            picture.width as usize,
            chroma_size(picture.width, picture.height).0 as usize,
        );
        let (y, u, v) = (&picture.y, &picture.u, &picture.v);
        match self {
            Self::Av1(encoder) => packets(encoder.send(y, width, u, cw, v, cw)),
            Self::H264(encoder) => packets(encoder.send(y, width, u, cw, v, cw)),
        }
    }

    /// Flushes the encoder: the last packets.
    pub fn finish(&mut self) -> Result<Vec<Packet>, String> {
        match self {
            Self::Av1(encoder) => packets(encoder.finish()),
            Self::H264(encoder) => packets(encoder.finish()),
        }
    }

    /// The rung's init segment (the same bytes from every chunk's encoder).
    pub fn init_segment(&self, rung: &Rung, timescale: u32) -> Result<Bytes, String> {
        match self {
            Self::Av1(encoder) => fmp4::init_segment(rung.width, rung.height, timescale, &encoder.av1c()),
            Self::H264(encoder) => {
                let avcc = encoder.avcc().map_err(|err| err.to_string())?;
                fmp4::init_segment_avc(rung.width, rung.height, timescale, &avcc)
            }
        }
        .map_err(|err| err.to_string())
    }

    /// The HLS CODECS value of what this encoder writes.
    pub fn codecs(&self) -> Result<String, String> {
        match self {
            Self::Av1(encoder) => Ok(encoder.codecs()),
            Self::H264(encoder) => encoder.codecs().map_err(|err| err.to_string()),
        }
    }
}
