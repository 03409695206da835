//! Waveform peaks as stored for players, in BBC audiowaveform's version 2 format: the data and
//! its `.dat` and JSON forms. The transcode kind computes them (`transcode::waveform`); the
//! thumbnail kind draws them. Format: a little-endian header — version `i32` = 2, flags `u32`
//! (bit 0 set = 8-bit values), sample rate `i32`, samples per pixel `i32`, length `u32`
//! (pixels), channels `i32` — then for each pixel, for each channel, a minimum and a maximum
//! value (`i8` for 8-bit, `i16` for 16-bit).

use serde::{Deserialize, Serialize};

/// The stored peaks' object name (`.dat`, the binary form peaks.js reads).
pub const WAVEFORM_DAT: &str = "waveform.dat";
/// The stored peaks' object name in audiowaveform's JSON form.
pub const WAVEFORM_JSON: &str = "waveform.json";
/// Most channels a waveform file may declare (as many as the decoder accepts).
const MAX_CHANNELS: u32 = 32;

/// The format version we write (version 2 adds the channel count to version 1).
pub const FORMAT_VERSION: i32 = 2;
/// Header flag bit: values are 8-bit.
const FLAG_8_BIT: u32 = 1;
/// Size of the version 2 header in bytes.
pub const HEADER_LEN: usize = 24;

/// Peaks that do not parse, or a JSON form that cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WaveformError(String);

/// A finished waveform: header fields and the interleaved min/max values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waveform {
    /// Always [`FORMAT_VERSION`].
    pub version: i32,
    /// Waveform channels (1 when merged).
    pub channels: u32,
    /// Rate of the PCM the waveform was computed from, in Hz.
    pub sample_rate: u32,
    /// Input frames per pixel.
    pub samples_per_pixel: u32,
    /// 8 or 16.
    pub bits: u8,
    /// Number of pixels (min/max pairs per channel).
    pub length: u32,
    /// `min, max` per channel per pixel, already scaled to `bits`.
    pub data: Vec<i16>,
}

impl Waveform {
    /// The binary `.dat` form.
    pub fn to_dat(&self) -> Vec<u8> {
        let eight = self.bits == 8;
        let value_len = if eight { 1 } else { 2 };
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len() * value_len);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(if eight { FLAG_8_BIT } else { 0 }).to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.sample_rate).to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.samples_per_pixel).to_le_bytes());
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&clamp_i32(self.channels).to_le_bytes());
        for v in &self.data {
            if eight {
                // Values were divided by 256 when the pixel closed, so they fit in an i8.
                out.push(v.clamp(&i16::from(i8::MIN), &i16::from(i8::MAX)).to_le_bytes()[0]);
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// The JSON form: audiowaveform's field names, in its order (the struct's field order).
    pub fn to_json(&self) -> Result<String, WaveformError> {
        serde_json::to_string(self).map_err(|e| WaveformError(format!("writing the JSON form: {e}")))
    }

    /// Parse a version 2 `.dat` file (ours or audiowaveform's); refuses anything inconsistent.
    pub fn from_dat(bytes: &[u8]) -> Result<Self, WaveformError> {
        let bad = |why: &str| WaveformError(format!("waveform data: {why}"));
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or_else(|| bad("shorter than its header"))?;
        let word = |i: usize| -> [u8; 4] {
            let mut w = [0u8; 4];
            w.copy_from_slice(header.get(i * 4..i * 4 + 4).unwrap_or(&[0; 4]));
            w
        };
        let version = i32::from_le_bytes(word(0));
        if version != FORMAT_VERSION {
            return Err(bad(&format!("version {version}, expected {FORMAT_VERSION}")));
        }
        let flags = u32::from_le_bytes(word(1));
        let positive = |v: i32, what: &str| u32::try_from(v).map_err(|_| bad(&format!("negative {what}")));
        let sample_rate = positive(i32::from_le_bytes(word(2)), "sample rate")?;
        let samples_per_pixel = positive(i32::from_le_bytes(word(3)), "samples per pixel")?;
        let length = u32::from_le_bytes(word(4));
        let channels = positive(i32::from_le_bytes(word(5)), "channel count")?;
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(bad(&format!("implausible channel count {channels}")));
        }
        let eight = flags & FLAG_8_BIT != 0;
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        let values = u64::from(length) * u64::from(channels) * 2;
        let expected = values * if eight { 1 } else { 2 };
        if body.len() as u64 != expected {
            return Err(bad(&format!(
                "{} data bytes for {length} pixels × {channels} channels (expected {expected})",
                body.len()
            )));
        }
        let data = if eight {
            body.iter().map(|b| i16::from(*b as i8)).collect()
        } else {
            body.chunks_exact(2)
                .map(|b| <[u8; 2]>::try_from(b).map_or(0, i16::from_le_bytes))
                .collect()
        };
        Ok(Self {
            version,
            channels,
            sample_rate,
            samples_per_pixel,
            bits: if eight { 8 } else { 16 },
            length,
            data,
        })
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
