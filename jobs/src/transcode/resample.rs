//! Channel mapping (down to mono/stereo) and streaming resampling to 48 kHz with rubato.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use symphonia::core::audio::{Channels, Position};

use super::error::TranscodeError;

/// Opus' native rate; every output is encoded at this rate.
pub const OUTPUT_RATE: u32 = 48_000;
/// Input frames per resampler call: small enough to keep latency/memory tiny, big enough for FFT efficiency.
const CHUNK_FRAMES: usize = 1024;
/// -3 dB, the usual weight for centre and surround channels in a stereo downmix.
const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Maps N input channels to 1 (mono stays mono) or 2 output channels.
#[derive(Debug, Clone)]
pub struct ChannelMixer {
    in_channels: usize,
    /// Per input channel, its (left, right) weight; unused for mono output.
    weights: Vec<(f32, f32)>,
    out_channels: usize,
}

impl ChannelMixer {
    /// Build downmix weights from the source layout; mono is kept as mono (Opus codes it cheaper).
    pub fn new(layout: &Channels) -> Self {
        let in_channels = layout.count();
        if in_channels <= 1 {
            return Self {
                in_channels: 1,
                weights: vec![(1.0, 1.0)],
                out_channels: 1,
            };
        }
        let mut weights: Vec<(f32, f32)> = match layout {
            Channels::Positioned(pos) => positioned_weights(*pos),
            _ => generic_weights(in_channels),
        };
        weights.resize(in_channels, (0.0, 0.0));
        // Normalise so a full-scale signal on every channel cannot clip after summing.
        let (sum_l, sum_r) = weights
            .iter()
            .fold((0.0f32, 0.0f32), |(l, r), (wl, wr)| (l + wl, r + wr));
        let norm = sum_l.max(sum_r);
        if norm > 1.0 {
            for w in &mut weights {
                w.0 /= norm;
                w.1 /= norm;
            }
        }
        Self {
            in_channels,
            weights,
            out_channels: 2,
        }
    }

    /// Number of channels produced (1 or 2).
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Append the mapped version of interleaved `input` to `out`.
    pub fn mix_into(&self, input: &[f32], out: &mut Vec<f32>) {
        if self.out_channels == 1 || (self.in_channels == 2 && is_identity(&self.weights)) {
            out.extend_from_slice(input);
            return;
        }
        out.reserve(input.len() / self.in_channels * 2);
        for frame in input.chunks_exact(self.in_channels) {
            let (mut l, mut r) = (0.0f32, 0.0f32);
            for (s, (wl, wr)) in frame.iter().zip(&self.weights) {
                l += s * wl;
                r += s * wr;
            }
            out.push(l);
            out.push(r);
        }
    }
}

fn is_identity(w: &[(f32, f32)]) -> bool {
    w == [(1.0, 0.0), (0.0, 1.0)]
}

/// Weights for WAVE-style positioned channels; channels are stored in ascending bit order.
fn positioned_weights(pos: Position) -> Vec<(f32, f32)> {
    let left = Position::FRONT_LEFT | Position::FRONT_LEFT_WIDE;
    let right = Position::FRONT_RIGHT | Position::FRONT_RIGHT_WIDE;
    let centre = Position::FRONT_CENTER
        | Position::REAR_CENTER
        | Position::TOP_CENTER
        | Position::TOP_FRONT_CENTER
        | Position::TOP_REAR_CENTER
        | Position::BOTTOM_FRONT_CENTER;
    let side_left = Position::FRONT_LEFT_CENTER
        | Position::REAR_LEFT
        | Position::SIDE_LEFT
        | Position::TOP_FRONT_LEFT
        | Position::TOP_REAR_LEFT
        | Position::TOP_SIDE_LEFT
        | Position::BOTTOM_FRONT_LEFT;
    let side_right = Position::FRONT_RIGHT_CENTER
        | Position::REAR_RIGHT
        | Position::SIDE_RIGHT
        | Position::TOP_FRONT_RIGHT
        | Position::TOP_REAR_RIGHT
        | Position::TOP_SIDE_RIGHT
        | Position::BOTTOM_FRONT_RIGHT;
    (0..64u32)
        .map(|bit| Position::from_bits_retain(1u64 << bit))
        .filter(|p| pos.contains(*p))
        .map(|p| {
            if left.contains(p) {
                (1.0, 0.0)
            } else if right.contains(p) {
                (0.0, 1.0)
            } else if centre.contains(p) {
                (MINUS_3DB, MINUS_3DB)
            } else if side_left.contains(p) {
                (MINUS_3DB, 0.0)
            } else if side_right.contains(p) {
                (0.0, MINUS_3DB)
            } else {
                // LFE and unknown positions are dropped, as in common stereo downmixes.
                (0.0, 0.0)
            }
        })
        .collect()
}

/// Unlabelled channels: first two are L/R, the rest are spread equally at -3 dB.
fn generic_weights(n: usize) -> Vec<(f32, f32)> {
    (0..n)
        .map(|i| match i {
            0 => (1.0, 0.0),
            1 => (0.0, 1.0),
            _ => (MINUS_3DB, MINUS_3DB),
        })
        .collect()
}

/// Streaming converter from the source rate to 48 kHz that trims rubato's delay itself.
pub struct To48k {
    fft: Option<Fft<f32>>,
    channels: usize,
    rate_in: u32,
    fifo: Vec<f32>,
    scratch: Vec<f32>,
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl To48k {
    /// Prepare a resampler; a 48 kHz source passes straight through.
    pub fn new(rate_in: u32, channels: usize) -> Result<Self, TranscodeError> {
        let fft = if rate_in == OUTPUT_RATE {
            None
        } else {
            let rate = usize::try_from(rate_in)
                .map_err(|_| TranscodeError::CorruptMedia("sample rate out of range".into()))?;
            Some(
                Fft::<f32>::new(
                    rate,
                    OUTPUT_RATE as usize,
                    CHUNK_FRAMES,
                    channels,
                    FixedSync::Input,
                )
                .map_err(|e| TranscodeError::Encoder(format!("resampler setup: {e}")))?,
            )
        };
        let (scratch, delay_left) = match &fft {
            Some(f) => (vec![0.0; f.output_frames_max() * channels], f.output_delay()),
            None => (Vec::new(), 0),
        };
        Ok(Self {
            fft,
            channels,
            rate_in,
            fifo: Vec::new(),
            scratch,
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resample interleaved `input` and append whatever 48 kHz output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), TranscodeError> {
        let frames = input.len() / self.channels;
        self.frames_in = self.frames_in.saturating_add(frames as u64);
        if self.fft.is_none() {
            out.extend_from_slice(input);
            self.frames_out = self.frames_in;
            return Ok(());
        }
        self.fifo.extend_from_slice(input);
        while let Some(need) = self.fft.as_ref().map(|f| f.input_frames_next()) {
            if self.fifo.len() < need * self.channels {
                break;
            }
            self.process_chunk(need, None, out)?;
            self.fifo.drain(..need * self.channels);
        }
        Ok(())
    }

    /// 48 kHz frames delivered so far (exact total after `finish`).
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Flush the tail so the output has exactly `ceil(frames_in * 48000 / rate_in)` frames.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), TranscodeError> {
        let Some(need) = self.fft.as_ref().map(|f| f.input_frames_next()) else {
            return Ok(());
        };
        let expected = expected_output_frames(self.frames_in, self.rate_in);
        let out_start = out.len();
        let produced_before = self.frames_out;
        let partial = self.fifo.len() / self.channels;
        self.fifo.resize(need * self.channels, 0.0);
        self.process_chunk(need, Some(partial), out)?;
        // Feed silence until the delayed tail has come out; bounded in case rubato misbehaves.
        let mut guard = 0u32;
        while self.frames_out < expected {
            guard += 1;
            if guard > 10_000 {
                return Err(TranscodeError::Encoder("resampler did not drain".into()));
            }
            self.process_chunk(need, Some(0), out)?;
        }
        let keep_frames = expected.saturating_sub(produced_before);
        let keep = usize::try_from(keep_frames)
            .unwrap_or(usize::MAX)
            .saturating_mul(self.channels);
        out.truncate(out_start.saturating_add(keep));
        self.frames_out = expected;
        self.fifo.clear();
        Ok(())
    }

    fn process_chunk(
        &mut self,
        need: usize,
        partial: Option<usize>,
        out: &mut Vec<f32>,
    ) -> Result<(), TranscodeError> {
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        let ch = self.channels;
        let out_frames = self.scratch.len() / ch;
        let fifo = self
            .fifo
            .get(..need * ch)
            .ok_or_else(|| TranscodeError::Encoder("resampler input underrun".into()))?;
        let input = InterleavedSlice::new(fifo, ch, need)
            .map_err(|e| TranscodeError::Encoder(format!("resampler input: {e}")))?;
        let mut output = InterleavedSlice::new_mut(&mut self.scratch[..], ch, out_frames)
            .map_err(|e| TranscodeError::Encoder(format!("resampler output: {e}")))?;
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        let (_, written) = fft
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| TranscodeError::Encoder(format!("resampler: {e}")))?;
        let skip = self.delay_left.min(written);
        self.delay_left -= skip;
        if let Some(fresh) = self.scratch.get(skip * ch..written * ch) {
            out.extend_from_slice(fresh);
        }
        self.frames_out = self.frames_out.saturating_add((written - skip) as u64);
        Ok(())
    }
}

/// Number of 48 kHz frames that `frames_in` source frames correspond to (rounded up).
pub fn expected_output_frames(frames_in: u64, rate_in: u32) -> u64 {
    let num = u128::from(frames_in) * u128::from(OUTPUT_RATE);
    let den = u128::from(rate_in.max(1));
    u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX)
}
