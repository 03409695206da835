//! Wires decode → channel mix → 48 kHz resample → Opus → fMP4 segments, streaming to a sink.

use bytes::Bytes;
use symphonia::core::io::MediaSource;

use super::decode::{self, PcmFormat};
use super::encode::{self, FRAME_SAMPLES, OpusEncoder};
use super::error::TranscodeError;
use super::fmp4::{self, OpusTrackConfig, TIMESCALE};
use super::hls::CODECS_ATTR;
use super::resample::{ChannelMixer, To48k};

/// Longest segment we allow; bounds the memory one buffered segment can take.
const MAX_SEGMENT_SECONDS: f64 = 60.0;
/// Slack for container-declared durations, which are estimates for some formats (e.g. VBR MP3).
const DECLARED_DURATION_SLACK_SECONDS: f64 = 1.0;

/// Knobs for one transcode.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeSettings {
    /// Opus target bitrate in bits per second (6 000–510 000).
    pub bitrate_bps: u32,
    /// Target segment length; rounded to whole 20 ms Opus packets.
    pub segment_seconds: f64,
    /// Inputs longer than this fail with `too-long` (use `f64::INFINITY` for no limit).
    pub max_duration_seconds: f64,
}

impl Default for TranscodeSettings {
    fn default() -> Self {
        Self {
            bitrate_bps: 128_000,
            segment_seconds: 6.0,
            max_duration_seconds: 6.0 * 3600.0,
        }
    }
}

/// One piece of HLS output, handed to the sink as soon as it is complete.
#[derive(Debug, Clone, PartialEq)]
pub enum HlsPart {
    /// `ftyp`+`moov`; emitted once, before the first segment. Store as `init.mp4`.
    Init(Bytes),
    /// One `moof`+`mdat`; store as `segment_file_name(index)`.
    Segment {
        /// Zero-based segment number.
        index: u32,
        /// The fMP4 fragment bytes.
        bytes: Bytes,
        /// Presentation duration (pre-skip and tail padding excluded), for `#EXTINF`.
        duration_seconds: f64,
    },
}

/// Facts about a finished transcode, for the job record and the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeSummary {
    /// Output presentation duration in seconds (equals the input duration).
    pub duration_seconds: f64,
    /// Sample rate of the decoded input.
    pub sample_rate_in: u32,
    /// Channel count of the decoded input (before downmix).
    pub channels_in: u16,
    /// Output codec name ("opus").
    pub codec: String,
    /// Input codec as symphonia names it (e.g. "pcm_s16le", "flac", "mp3").
    pub source_codec: String,
    /// Number of media segments emitted.
    pub segments: u32,
    /// `CODECS` attribute value for the master playlist ("Opus").
    pub codecs_attr: String,
    /// Highest per-segment bitrate including fMP4 overhead, for `BANDWIDTH`.
    pub peak_bitrate_bps: u64,
}

/// Transcode any symphonia-decodable audio into Opus-in-fMP4 HLS parts, streaming them to `sink`.
///
/// Synchronous and CPU-bound by design: run it on a blocking thread. Mono stays mono; anything
/// with more channels is downmixed to stereo. `cancelled` is polled once per segment.
pub fn transcode_audio(
    source: Box<dyn MediaSource>,
    settings: &TranscodeSettings,
    sink: &mut dyn FnMut(HlsPart) -> Result<(), TranscodeError>,
    cancelled: &dyn Fn() -> bool,
) -> Result<TranscodeSummary, TranscodeError> {
    let segment_packets = validate(settings)?;
    if cancelled() {
        return Err(TranscodeError::Cancelled);
    }
    let max_seconds = settings.max_duration_seconds;
    let mut source = decode::open(source)?;
    if let Some(declared) = source.declared_seconds()
        && declared > max_seconds + DECLARED_DURATION_SLACK_SECONDS
    {
        return Err(TranscodeError::TooLong {
            actual_seconds: declared,
            max_seconds,
        });
    }
    let source_codec = source.codec_name().to_string();

    let mut stages: Option<Stages> = None;
    let mut segmenter = Segmenter::new(segment_packets, sink, cancelled);
    let mut mixed: Vec<f32> = Vec::new();
    let mut pcm48: Vec<f32> = Vec::new();
    let mut frames_in: u64 = 0;

    while let Some((fmt, pcm)) = source.next_chunk()? {
        let st = match stages.as_mut() {
            Some(st) => st,
            None => stages.insert(Stages::new(fmt, settings.bitrate_bps, &mut segmenter)?),
        };
        let channels = fmt.channel_count().max(1);
        frames_in = frames_in.saturating_add((pcm.len() / channels) as u64);
        let seconds_in = frames_in as f64 / f64::from(st.sample_rate_in);
        if seconds_in > max_seconds {
            return Err(TranscodeError::TooLong {
                actual_seconds: seconds_in,
                max_seconds,
            });
        }
        mixed.clear();
        st.mixer.mix_into(pcm, &mut mixed);
        st.resampler.push(&mixed, &mut pcm48)?;
        st.encode_ready(&mut pcm48, &mut segmenter)?;
    }

    // next_chunk returns an error rather than Ok(None) when nothing decoded, so stages exist.
    let Some(mut st) = stages else {
        return Err(TranscodeError::CorruptMedia("no decodable audio frames".into()));
    };
    st.resampler.finish(&mut pcm48)?;
    st.encode_ready(&mut pcm48, &mut segmenter)?;
    let frames_out = st.resampler_frames_out();
    st.flush(frames_out, &mut pcm48, &mut segmenter)?;
    let (segments, peak_bitrate_bps) = segmenter.finish(frames_out, st.pre_skip)?;

    Ok(TranscodeSummary {
        duration_seconds: frames_out as f64 / f64::from(TIMESCALE),
        sample_rate_in: st.sample_rate_in,
        channels_in: st.channels_in,
        codec: "opus".into(),
        source_codec,
        segments,
        codecs_attr: CODECS_ATTR.into(),
        peak_bitrate_bps,
    })
}

/// Check settings and return the number of 20 ms packets per segment.
fn validate(s: &TranscodeSettings) -> Result<usize, TranscodeError> {
    if !encode::BITRATE_RANGE.contains(&s.bitrate_bps) {
        return Err(TranscodeError::InvalidSettings(format!(
            "bitrate {} bps outside {:?}",
            s.bitrate_bps,
            encode::BITRATE_RANGE
        )));
    }
    if !(s.segment_seconds.is_finite() && s.segment_seconds > 0.0 && s.segment_seconds <= MAX_SEGMENT_SECONDS)
    {
        return Err(TranscodeError::InvalidSettings(format!(
            "segment length {} s must be in (0, {MAX_SEGMENT_SECONDS}]",
            s.segment_seconds
        )));
    }
    if s.max_duration_seconds.is_nan() || s.max_duration_seconds <= 0.0 {
        return Err(TranscodeError::InvalidSettings(
            "max duration must be positive".into(),
        ));
    }
    let per_second = f64::from(TIMESCALE) / FRAME_SAMPLES as f64;
    // Bounded by MAX_SEGMENT_SECONDS above, so the cast cannot overflow.
    Ok(((s.segment_seconds * per_second).round() as usize).max(1))
}

/// Processing stages, created once the first decoded packet reveals the real PCM format.
struct Stages {
    mixer: ChannelMixer,
    resampler: To48k,
    encoder: OpusEncoder,
    pre_skip: u16,
    sample_rate_in: u32,
    channels_in: u16,
    packets_out: u64,
}

impl Stages {
    fn new(fmt: &PcmFormat, bitrate: u32, seg: &mut Segmenter<'_>) -> Result<Self, TranscodeError> {
        let mixer = ChannelMixer::new(&fmt.channels);
        let out_channels = mixer.out_channels();
        let resampler = To48k::new(fmt.sample_rate, out_channels)?;
        let encoder = OpusEncoder::new(out_channels, bitrate)?;
        let pre_skip = encoder.pre_skip();
        let channels_in = u16::try_from(fmt.channel_count())
            .map_err(|_| TranscodeError::CorruptMedia("channel count out of range".into()))?;
        let init = fmp4::init_segment(&OpusTrackConfig {
            channels: u16::try_from(out_channels).unwrap_or(2),
            pre_skip,
            input_sample_rate: fmt.sample_rate,
        })?;
        seg.pre_skip = u64::from(pre_skip);
        (seg.sink)(HlsPart::Init(init))?;
        Ok(Self {
            mixer,
            resampler,
            encoder,
            pre_skip,
            sample_rate_in: fmt.sample_rate,
            channels_in,
            packets_out: 0,
        })
    }

    fn resampler_frames_out(&self) -> u64 {
        self.resampler.frames_out()
    }

    /// Encode every complete 20 ms frame in `pcm48`, leaving the remainder for later.
    fn encode_ready(&mut self, pcm48: &mut Vec<f32>, seg: &mut Segmenter<'_>) -> Result<(), TranscodeError> {
        let frame_len = self.encoder.frame_len();
        let mut consumed = 0;
        for frame in pcm48.chunks_exact(frame_len) {
            let packet = self.encoder.encode_frame(frame)?;
            self.packets_out += 1;
            seg.push(packet)?;
            consumed += frame_len;
        }
        pcm48.drain(..consumed);
        Ok(())
    }

    /// Pad with silence so the decoder can emit all `frames` real samples after the pre-skip.
    fn flush(
        &mut self,
        frames: u64,
        pcm48: &mut Vec<f32>,
        seg: &mut Segmenter<'_>,
    ) -> Result<(), TranscodeError> {
        let needed = encode::packets_needed(frames, self.pre_skip);
        let frame_len = self.encoder.frame_len();
        while self.packets_out < needed {
            pcm48.resize(frame_len, 0.0);
            self.encode_ready(pcm48, seg)?;
        }
        Ok(())
    }
}

/// Groups packets into segments and hands finished fragments to the sink.
struct Segmenter<'a> {
    per_segment: usize,
    sink: &'a mut dyn FnMut(HlsPart) -> Result<(), TranscodeError>,
    cancelled: &'a dyn Fn() -> bool,
    packets: Vec<Vec<u8>>,
    index: u32,
    start: u64,
    peak_bps: u64,
    /// Media time where presentation starts (the Opus pre-skip), set once the encoder exists.
    pre_skip: u64,
}

impl<'a> Segmenter<'a> {
    fn new(
        per_segment: usize,
        sink: &'a mut dyn FnMut(HlsPart) -> Result<(), TranscodeError>,
        cancelled: &'a dyn Fn() -> bool,
    ) -> Self {
        Self {
            per_segment,
            sink,
            cancelled,
            packets: Vec::with_capacity(per_segment),
            index: 0,
            start: 0,
            peak_bps: 0,
            pre_skip: 0,
        }
    }

    /// Add a packet; a full segment is only emitted once a further packet proves it is not the
    /// last, because the last one's duration depends on the final sample count.
    fn push(&mut self, packet: Vec<u8>) -> Result<(), TranscodeError> {
        if self.packets.len() >= self.per_segment {
            self.emit(None)?;
        }
        self.packets.push(packet);
        Ok(())
    }

    /// Emit the final segment; returns (segment count, peak bitrate).
    fn finish(mut self, frames: u64, pre_skip: u16) -> Result<(u32, u64), TranscodeError> {
        if !self.packets.is_empty() {
            self.emit(Some(frames.saturating_add(u64::from(pre_skip))))?;
        }
        Ok((self.index, self.peak_bps))
    }

    /// `presentation_end` is the media time where real audio ends (only known for the last one).
    fn emit(&mut self, presentation_end: Option<u64>) -> Result<(), TranscodeError> {
        if (self.cancelled)() {
            return Err(TranscodeError::Cancelled);
        }
        let sequence = self
            .index
            .checked_add(1)
            .ok_or_else(|| TranscodeError::Encoder("too many segments".into()))?;
        let bytes = fmp4::media_segment(sequence, self.start, &self.packets)?;
        let media_len = (self.packets.len() as u64).saturating_mul(FRAME_SAMPLES as u64);
        let end = self.start.saturating_add(media_len);
        let pre_skip_end = self.pre_skip;
        let visible_end = presentation_end.map_or(end, |p| end.min(p));
        let visible = visible_end.saturating_sub(self.start.max(pre_skip_end));
        let duration_seconds = visible as f64 / f64::from(TIMESCALE);
        if let Some(bps) = (bytes.len() as u64)
            .saturating_mul(8)
            .saturating_mul(u64::from(TIMESCALE))
            .checked_div(media_len)
        {
            self.peak_bps = self.peak_bps.max(bps);
        }
        (self.sink)(HlsPart::Segment {
            index: self.index,
            bytes,
            duration_seconds,
        })?;
        self.index = sequence;
        self.start = end;
        self.packets.clear();
        Ok(())
    }
}
