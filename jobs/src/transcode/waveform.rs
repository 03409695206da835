//! Waveform peaks for players, in BBC audiowaveform's version 2 format (`.dat` and JSON).
//!
//! The format is the one peaks.js and wavesurfer read (audiowaveform's `doc/DataFormat.md`):
//! a little-endian header — version `i32` = 2, flags `u32` (bit 0 set = 8-bit values),
//! sample rate `i32`, samples per pixel `i32`, length `u32` (pixels), channels `i32` — then for
//! each pixel, for each channel, a minimum and a maximum value (`i8` for 8-bit, `i16` for
//! 16-bit). The JSON form carries the same numbers.
//!
//! Values are computed exactly as audiowaveform does, so our files match its output for the
//! same PCM: each sample is scaled to 16 bits; when channels are merged (audiowaveform's
//! default, and ours) the 16-bit samples of one frame are summed and divided by the channel
//! count with C's truncating division; each pixel keeps the min and max over
//! `samples_per_pixel` frames (a trailing partial pixel is kept); 8-bit output divides the
//! 16-bit extremes by 256, again truncating toward zero.
//!
//! Streaming: [`WaveformBuilder::push`] takes blocks of interleaved f32 of any size. Work
//! memory is one pixel's accumulators; the output itself grows by one value pair per channel
//! per pixel (a 6 h file at 44.1 kHz and 256 samples per pixel is ~3.7 M pixels, 7.4 MB).

use serde::{Deserialize, Serialize};

use super::decode::MAX_CHANNELS;
use super::error::TranscodeError;

pub use crate::media::waveform::{FORMAT_VERSION, HEADER_LEN, Waveform};

/// audiowaveform refuses zoom levels below this.
pub const MIN_SAMPLES_PER_PIXEL: u32 = 2;

/// How input channels become waveform channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelMode {
    /// Average all channels into one (audiowaveform's default): what players draw by default
    /// and half the size of a stereo waveform.
    #[default]
    Merged,
    /// One waveform channel per input channel (audiowaveform's `--split-channels`).
    Split,
}

/// Resolution of the stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Bits {
    /// -128..=127; plenty for drawing, and what peaks.js recommends.
    #[default]
    Eight,
    /// -32768..=32767.
    Sixteen,
}

impl Bits {
    /// The number the JSON `bits` field carries.
    pub fn count(self) -> u8 {
        match self {
            Bits::Eight => 8,
            Bits::Sixteen => 16,
        }
    }
}

/// Knobs for one waveform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveformSettings {
    /// Input frames summarised by one min/max pair (audiowaveform's `--zoom`, default 256).
    pub samples_per_pixel: u32,
    /// Merge channels (default) or keep them apart.
    pub channels: ChannelMode,
    /// 8-bit (default) or 16-bit values.
    pub bits: Bits,
}

impl Default for WaveformSettings {
    fn default() -> Self {
        Self {
            samples_per_pixel: 256,
            channels: ChannelMode::Merged,
            bits: Bits::Eight,
        }
    }
}

/// Accumulates min/max peaks from streamed interleaved f32 PCM.
#[derive(Debug, Clone)]
pub struct WaveformBuilder {
    settings: WaveformSettings,
    sample_rate: u32,
    in_channels: usize,
    /// Running (min, max) of the current pixel, per output channel, in 16-bit units.
    current: Vec<(i16, i16)>,
    frames_in_pixel: u32,
    data: Vec<i16>,
    length: u32,
}

impl WaveformBuilder {
    /// Start a waveform for PCM at `sample_rate` with `channels` interleaved channels.
    pub fn new(
        sample_rate: u32,
        channels: usize,
        settings: WaveformSettings,
    ) -> Result<Self, TranscodeError> {
        if settings.samples_per_pixel < MIN_SAMPLES_PER_PIXEL
            || i32::try_from(settings.samples_per_pixel).is_err()
        {
            return Err(TranscodeError::InvalidSettings(format!(
                "samples per pixel {} must be between {MIN_SAMPLES_PER_PIXEL} and {}",
                settings.samples_per_pixel,
                i32::MAX
            )));
        }
        if sample_rate == 0 || i32::try_from(sample_rate).is_err() {
            return Err(TranscodeError::CorruptMedia(format!(
                "implausible sample rate {sample_rate} Hz"
            )));
        }
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(TranscodeError::CorruptMedia(format!(
                "implausible channel count {channels}"
            )));
        }
        let out_channels = match settings.channels {
            ChannelMode::Merged => 1,
            ChannelMode::Split => channels,
        };
        Ok(Self {
            settings,
            sample_rate,
            in_channels: channels,
            current: vec![EMPTY_PIXEL; out_channels],
            frames_in_pixel: 0,
            data: Vec::new(),
            length: 0,
        })
    }

    /// Add interleaved samples; a trailing partial frame is ignored (callers push whole frames).
    pub fn push(&mut self, interleaved: &[f32]) {
        for frame in interleaved.chunks_exact(self.in_channels) {
            match self.settings.channels {
                ChannelMode::Merged => {
                    let sum: i32 = frame.iter().map(|s| i32::from(to_i16(*s))).sum();
                    // Integer division truncates toward zero, as audiowaveform's C++ does.
                    let merged = sum / self.in_channels as i32;
                    let merged = merged.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                    if let Some(acc) = self.current.first_mut() {
                        widen(acc, merged);
                    }
                }
                ChannelMode::Split => {
                    for (acc, s) in self.current.iter_mut().zip(frame) {
                        widen(acc, to_i16(*s));
                    }
                }
            }
            self.frames_in_pixel += 1;
            if self.frames_in_pixel == self.settings.samples_per_pixel {
                self.close_pixel();
            }
        }
    }

    /// Pixels completed so far.
    pub fn len(&self) -> u32 {
        self.length
    }

    /// True until the first pixel is complete.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Close the trailing partial pixel (if any) and return the waveform.
    pub fn finish(mut self) -> Waveform {
        if self.frames_in_pixel > 0 {
            self.close_pixel();
        }
        Waveform {
            version: FORMAT_VERSION,
            channels: self.current.len() as u32,
            sample_rate: self.sample_rate,
            samples_per_pixel: self.settings.samples_per_pixel,
            bits: self.settings.bits.count(),
            length: self.length,
            data: self.data,
        }
    }

    fn close_pixel(&mut self) {
        let divisor = match self.settings.bits {
            Bits::Eight => 256,
            Bits::Sixteen => 1,
        };
        for acc in &mut self.current {
            // `/` on i16 truncates toward zero, like audiowaveform's `value / 256`.
            self.data.push(acc.0 / divisor);
            self.data.push(acc.1 / divisor);
            *acc = EMPTY_PIXEL;
        }
        self.frames_in_pixel = 0;
        self.length = self.length.saturating_add(1);
    }
}

/// A pixel before any sample: min starts high and max low, as in audiowaveform.
const EMPTY_PIXEL: (i16, i16) = (i16::MAX, i16::MIN);

fn widen(acc: &mut (i16, i16), sample: i16) {
    acc.0 = acc.0.min(sample);
    acc.1 = acc.1.max(sample);
}

/// f32 in [-1, 1) to i16 the way symphonia's i16 → f32 conversion inverts (×32768), so 16-bit
/// sources come back bit-exact; out-of-range values clip and NaN becomes 0.
fn to_i16(sample: f32) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests;
