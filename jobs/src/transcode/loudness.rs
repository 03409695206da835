//! EBU R128 loudness: integrated loudness, loudness range and true peak, measured while the
//! audio streams past, and the playback gain that brings a track to a target loudness.
//!
//! The measurement is the `ebur128` crate (a pure-Rust port of libebur128, the library behind
//! ffmpeg's `ebur128`/`loudnorm` filters and many players' ReplayGain scanners): the K-weighting
//! filters, the 400 ms gating blocks with absolute and relative gates, the 3 s short-term
//! blocks for the loudness range and the 4× oversampled true-peak meter are all standardised
//! details that one well-tested implementation gets right and we would only get subtly wrong.
//!
//! It runs in histogram mode, so memory is constant whatever the duration (the exact mode keeps
//! every 100 ms block's energy, which grows without bound; the histogram's 0.1 LU bins change
//! results by far less than the 0.5 LU tolerance of the standard, and ffmpeg measures the same way).
//!
//! Channels follow BS.1770's default map for interleaved PCM: L, R, C, LFE (ignored), Ls, Rs;
//! a mono signal is weighted once, as BS.1770 and ffmpeg's filter (without `dualmono`) do.

pub use crate::media::audio::Loudness;
use ebur128::{EbuR128, Mode};
use serde::{Deserialize, Serialize};

use super::decode::MAX_CHANNELS;
use super::error::TranscodeError;

/// The default playback target, in LUFS: what the large streaming services normalise to.
pub const DEFAULT_TARGET_LUFS: f64 = -14.0;
/// The default ceiling for the true peak after gain, in dBTP: leaves room for lossy codecs'
/// overshoot, as EBU R128 and AES TD1004 recommend for distribution.
pub const DEFAULT_MAX_TRUE_PEAK_DBTP: f64 = -1.0;
/// BS.1770's absolute gate: blocks quieter than this are not programme, so a file that never
/// rises above it has no integrated loudness.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;

/// Measures EBU R128 loudness from streamed interleaved f32 PCM.
pub struct LoudnessMeter {
    inner: EbuR128,
    channels: usize,
}

impl std::fmt::Debug for LoudnessMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoudnessMeter")
            .field("channels", &self.channels)
            .field("sample_rate", &self.inner.rate())
            .finish()
    }
}

impl LoudnessMeter {
    /// A meter for PCM at `sample_rate` Hz with `channels` interleaved channels.
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, TranscodeError> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(TranscodeError::CorruptMedia(format!(
                "implausible channel count {channels}"
            )));
        }
        let count = u32::try_from(channels)
            .map_err(|_| TranscodeError::CorruptMedia(format!("implausible channel count {channels}")))?;
        let mode = Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::HISTOGRAM;
        let inner = EbuR128::new(count, sample_rate, mode).map_err(|e| {
            TranscodeError::CorruptMedia(format!(
                "cannot measure loudness at {sample_rate} Hz with {channels} channels: {e}"
            ))
        })?;
        Ok(Self { inner, channels })
    }

    /// Add interleaved samples; blocks may have any whole number of frames.
    pub fn push(&mut self, interleaved: &[f32]) -> Result<(), TranscodeError> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(TranscodeError::Encoder(format!(
                "loudness meter got {} samples, not a whole number of {}-channel frames",
                interleaved.len(),
                self.channels
            )));
        }
        self.inner
            .add_frames_f32(interleaved)
            .map_err(|e| TranscodeError::Encoder(format!("loudness meter: {e}")))
    }

    /// The measurement so far (call after the last `push`; the meter can keep going after).
    pub fn measurement(&self) -> Result<Loudness, TranscodeError> {
        let err = |e: ebur128::Error| TranscodeError::Encoder(format!("loudness meter: {e}"));
        let integrated = self.inner.loudness_global().map_err(err)?;
        let integrated_lufs =
            (integrated.is_finite() && integrated >= ABSOLUTE_GATE_LUFS).then_some(integrated);
        let range = self.inner.loudness_range().map_err(err)?;
        let range_lu = integrated_lufs.and(range.is_finite().then_some(range.max(0.0)));
        let mut peak = 0.0f64;
        for channel in 0..self.inner.channels() {
            peak = peak.max(self.inner.true_peak(channel).map_err(err)?);
        }
        let true_peak_dbtp = (peak > 0.0 && peak.is_finite()).then(|| 20.0 * peak.log10());
        Ok(Loudness {
            integrated_lufs,
            range_lu,
            true_peak_dbtp,
        })
    }
}

/// Where playback gain aims.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GainTarget {
    /// Target integrated loudness in LUFS.
    pub target_lufs: f64,
    /// The true peak after gain must not exceed this, in dBTP.
    pub max_true_peak_dbtp: f64,
}

impl Default for GainTarget {
    fn default() -> Self {
        Self {
            target_lufs: DEFAULT_TARGET_LUFS,
            max_true_peak_dbtp: DEFAULT_MAX_TRUE_PEAK_DBTP,
        }
    }
}

/// The gain in dB a player applies to bring the track to `target`, never pushing its true
/// peak above the ceiling: `min(target − integrated, ceiling − true peak)`.
///
/// The cap applies both ways: a track already at the target whose peaks exceed the ceiling is
/// turned down until they fit. Undefined loudness (silence, under 400 ms of audio) gets 0 dB:
/// there is nothing to normalise, and boosting noise floors is worse than leaving them alone.
/// The result is rounded to 0.01 dB so that stored values are stable across runs.
pub fn playback_gain_db(loudness: &Loudness, target: &GainTarget) -> f64 {
    let Some(integrated) = loudness.integrated_lufs else {
        return 0.0;
    };
    let mut gain = target.target_lufs - integrated;
    if let Some(peak) = loudness.true_peak_dbtp {
        gain = gain.min(target.max_true_peak_dbtp - peak);
    }
    if !gain.is_finite() {
        return 0.0;
    }
    // Round down so rounding can never push the peak over the ceiling.
    (gain * 100.0).floor() / 100.0
}

#[cfg(test)]
mod tests;
