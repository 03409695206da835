//! Wires decode → channel mix → 48 kHz resample → one encoder per rendition → fMP4 segments,
//! streaming every part to a sink. Segment boundaries sit at the same presentation times in
//! every rendition (multiples of the target length, each to within one packet), so players can
//! switch renditions at any segment.
//!
//! A rescued attempt resumes (see [`Resume`]): it decodes from the start again (loudness and the
//! waveform need every sample, and decoding is cheap next to encoding), but each encoder starts a
//! short pre-roll before the first segment still missing and its pre-roll packets are dropped, so
//! packet `n` covers the same samples, and every `tfdt` and sequence number is the same, as in an
//! uninterrupted run.

use bytes::Bytes;

use crate::fan_out::fan_out;

use super::decode::PcmFormat;
use super::error::TranscodeError;
use super::fmp4::{self, TIMESCALE};
use super::input;
use super::ladder::{Rendition, RenditionEncoder};
use super::loudness::{self, GainTarget, Loudness, LoudnessMeter};
use super::metadata::AudioMetadata;
use super::resample::{ChannelMixer, To48k};
use super::waveform::{Waveform, WaveformBuilder, WaveformSettings};

/// Longest segment we allow; bounds the memory one buffered segment can take.
const MAX_SEGMENT_SECONDS: f64 = 60.0;
/// Slack for container-declared durations, which are estimates for some formats (e.g. VBR MP3).
const DECLARED_DURATION_SLACK_SECONDS: f64 = 1.0;

/// Knobs for one transcode.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeSettings {
    /// The renditions to make, in master playlist order.
    pub ladder: Vec<Rendition>,
    /// Target segment length in seconds.
    pub segment_seconds: f64,
    /// Inputs longer than this fail with `too-long` (use `f64::INFINITY` for no limit).
    pub max_duration_seconds: f64,
    /// Originals larger than this fail with `audio-too-large` before they are fetched.
    pub max_input_bytes: u64,
    /// Where the playback gain aims (EBU R128 integrated loudness and a true-peak ceiling).
    pub loudness_target: GainTarget,
    /// The waveform peaks' resolution and format.
    pub waveform: WaveformSettings,
}

impl Default for TranscodeSettings {
    fn default() -> Self {
        Self {
            ladder: Rendition::default_ladder(),
            segment_seconds: 6.0,
            max_duration_seconds: 6.0 * 3600.0,
            max_input_bytes: 4 << 30,
            loudness_target: GainTarget::default(),
            waveform: WaveformSettings::default(),
        }
    }
}

/// What an earlier attempt of the same job already stored: per rendition (ladder order), the
/// `(bytes, #EXTINF seconds)` of its segments 0, 1, 2… in order, without gaps.
///
/// Only the leading segments whose durations are exactly what these settings make are reused
/// (another segment length, say, means starting over), and only as far as every rendition got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Per rendition, its stored segments from index 0.
    pub stored: Vec<Vec<(u64, f64)>>,
}

/// One piece of HLS output, handed to the sink as soon as it is complete.
#[derive(Debug, Clone, PartialEq)]
pub enum HlsPart {
    /// Decoding has begun; the container declares this duration (for progress), if any.
    Started {
        /// Declared duration in seconds.
        expected_seconds: Option<f64>,
        /// Segments per rendition taken over from [`Resume`]; they are not emitted again.
        resumed_segments: u32,
        /// Their duration in seconds.
        resumed_seconds: f64,
    },
    /// `ftyp`+`moov` of rendition `rendition` (an index into the ladder); emitted once, before
    /// that rendition's first segment.
    Init {
        /// Index into the ladder.
        rendition: usize,
        /// The init segment bytes.
        bytes: Bytes,
    },
    /// One `moof`+`mdat` of rendition `rendition`.
    Segment {
        /// Index into the ladder.
        rendition: usize,
        /// Zero-based segment number.
        index: u32,
        /// The fMP4 fragment bytes.
        bytes: Bytes,
        /// Presentation duration (priming and tail padding excluded), for `#EXTINF`.
        duration_seconds: f64,
    },
}

/// Facts about one finished rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionSummary {
    /// The rendition.
    pub rendition: Rendition,
    /// `#EXTINF` duration of every segment, in order.
    pub segment_durations: Vec<f64>,
    /// Peak segment bit rate (RFC 8216 §4.3.4.2), container overhead included: `BANDWIDTH`.
    pub peak_bitrate_bps: u64,
    /// Average bit rate over the whole rendition: `AVERAGE-BANDWIDTH`.
    pub average_bitrate_bps: u64,
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
    /// Input codec as symphonia names it (e.g. "pcm_s16le", "flac", "mp3").
    pub source_codec: String,
    /// One entry per rendition, in ladder order.
    pub renditions: Vec<RenditionSummary>,
    /// Stream facts, tags and cover art from the container.
    pub metadata: AudioMetadata,
    /// EBU R128 measurement of the audio as encoded (after the downmix, before resampling).
    pub loudness: Loudness,
    /// The gain in dB a player applies to reach the target loudness (the audio is not altered).
    pub playback_gain_db: f64,
    /// Peaks for waveform displays (audiowaveform format), from the decoded source.
    pub waveform: Waveform,
}

/// Where the parts go. `Send`: the renditions encode on their own threads when the job was
/// given more than one ([`crate::fan_out`]), each handing its parts over in turn.
type Sink<'a> = &'a mut (dyn FnMut(HlsPart) -> Result<(), TranscodeError> + Send);
/// Whether the job was cancelled (asked from every rendition's thread).
type Cancelled<'a> = &'a (dyn Fn() -> bool + Sync);

/// Transcode any audio we decode (symphonia's formats, and Opus in Ogg) into the ladder's fMP4
/// HLS parts, streaming them to `sink`, and measure it on the way (metadata, loudness, peaks).
///
/// Synchronous and CPU-bound by design: run it on a blocking thread. Mono stays mono; anything
/// with more channels is downmixed to stereo. `cancelled` is polled before every segment.
/// `resume` names segments an earlier attempt stored; pass `&Resume::default()` to start afresh.
/// The renditions encode on up to `threads` threads.
pub fn transcode_audio(
    source: std::fs::File,
    settings: &TranscodeSettings,
    resume: &Resume,
    sink: Sink<'_>,
    cancelled: Cancelled<'_>,
    threads: usize,
) -> Result<TranscodeSummary, TranscodeError> {
    // Bad settings fail before the input is read; cancellation is checked by the pipeline.
    validate(settings)?;
    let (mut source, metadata) = input::open(source)?;
    transcode_pcm(&mut source, metadata, settings, resume, sink, cancelled, threads)
}

/// Where the pipeline's PCM comes from: its own decoders ([`input::Input`]), or another kind's
/// (a video's soundtrack, decoded by FFmpeg).
pub trait PcmSource {
    /// Short name of the source codec (e.g. "flac", "aac").
    fn codec_name(&self) -> &str;
    /// Decodes the next block; `None` at the end. The slice is interleaved f32.
    fn next_chunk(&mut self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError>;
}

impl PcmSource for input::Input {
    fn codec_name(&self) -> &str {
        input::Input::codec_name(self)
    }

    fn next_chunk(&mut self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError> {
        input::Input::next_chunk(self)
    }
}

/// [`transcode_audio`] from an open source whose stream facts are `metadata`.
pub fn transcode_pcm(
    source: &mut dyn PcmSource,
    metadata: AudioMetadata,
    settings: &TranscodeSettings,
    resume: &Resume,
    sink: Sink<'_>,
    cancelled: Cancelled<'_>,
    threads: usize,
) -> Result<TranscodeSummary, TranscodeError> {
    let target = validate(settings)?;
    if cancelled() {
        return Err(TranscodeError::Cancelled);
    }
    let max_seconds = settings.max_duration_seconds;
    if let Some(declared) = metadata.duration_seconds
        && declared > max_seconds + DECLARED_DURATION_SLACK_SECONDS
    {
        return Err(TranscodeError::TooLong {
            actual_seconds: declared,
            max_seconds,
        });
    }
    let source_codec = source.codec_name().to_string();

    // The first block reveals the PCM format the stages are built for. (next_chunk returns an
    // error rather than Ok(None) when nothing decodes.)
    let (format, first) = match source.next_chunk()? {
        Some((format, pcm)) => (format.clone(), pcm.to_vec()),
        None => return Err(TranscodeError::CorruptMedia("no decodable audio frames".into())),
    };
    let (mut front, lanes) = stages(&format, settings, target, resume, metadata.duration_seconds, sink)?;

    // Decoding, mixing, measuring and resampling run here; the renditions' encoders consume the
    // 48 kHz blocks, on their own threads when there are several.
    let shared_sink = std::sync::Mutex::new(&mut *sink);
    let encode = |lane: &mut Lane, pcm48: &Vec<f32>| {
        let mut to_sink = |part: HlsPart| match shared_sink.lock() {
            Ok(mut sink) => sink(part),
            Err(_) => Err(TranscodeError::Sink(
                "another rendition failed while writing".into(),
            )),
        };
        lane.feed(pcm48, &mut to_sink, cancelled)
    };
    let costs = vec![1; lanes.len()];
    let ((), lanes) = fan_out(threads, lanes, &costs, encode, |deliver| {
        let stopped = || TranscodeError::Sink("a rendition stopped".into());
        let channels = format.channel_count().max(1);
        let block = front.push(&first, channels, max_seconds)?;
        if !deliver(block.into()) {
            return Err(stopped());
        }
        while let Some((format, pcm)) = source.next_chunk()? {
            let block = front.push(pcm, format.channel_count().max(1), max_seconds)?;
            if !block.is_empty() && !deliver(block.into()) {
                return Err(stopped());
            }
        }
        let mut tail = Vec::new();
        front.resampler.finish(&mut tail)?;
        if !deliver(tail.into()) {
            return Err(stopped());
        }
        Ok(())
    })?;
    let sink = shared_sink
        .into_inner()
        .map_err(|_| TranscodeError::Sink("a rendition failed while writing".into()))?;

    let frames_out = front.resampler.frames_out();
    let loudness = front.loudness.measurement()?;
    let renditions = lanes
        .into_iter()
        .map(|lane| lane.finish(frames_out, sink, cancelled))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(TranscodeSummary {
        duration_seconds: frames_out as f64 / f64::from(TIMESCALE),
        sample_rate_in: front.sample_rate_in,
        channels_in: front.channels_in,
        source_codec,
        renditions,
        metadata,
        playback_gain_db: loudness::playback_gain_db(&loudness, &settings.loudness_target),
        loudness,
        waveform: front.waveform.finish(),
    })
}

/// Checks settings and returns the target segment length in 48 kHz samples.
fn validate(s: &TranscodeSettings) -> Result<u64, TranscodeError> {
    if s.ladder.is_empty() {
        return Err(TranscodeError::InvalidSettings("the ladder is empty".into()));
    }
    for rendition in &s.ladder {
        rendition.validate().map_err(TranscodeError::InvalidSettings)?;
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
    // Bounded by MAX_SEGMENT_SECONDS above, so the cast cannot overflow.
    Ok(((s.segment_seconds * f64::from(TIMESCALE)).round() as u64).max(1))
}

/// What runs before the encoders, on the decoding thread: mix, measure, resample.
struct Front {
    mixer: ChannelMixer,
    resampler: To48k,
    loudness: LoudnessMeter,
    waveform: WaveformBuilder,
    sample_rate_in: u32,
    channels_in: u16,
    frames_in: u64,
    mixed: Vec<f32>,
}

impl Front {
    /// Takes one decoded block (`channels` interleaved) and returns its 48 kHz mix.
    fn push(&mut self, pcm: &[f32], channels: usize, max_seconds: f64) -> Result<Vec<f32>, TranscodeError> {
        self.frames_in = self.frames_in.saturating_add((pcm.len() / channels) as u64);
        let seconds_in = self.frames_in as f64 / f64::from(self.sample_rate_in);
        if seconds_in > max_seconds {
            return Err(TranscodeError::TooLong {
                actual_seconds: seconds_in,
                max_seconds,
            });
        }
        self.waveform.push(pcm);
        self.mixed.clear();
        self.mixer.mix_into(pcm, &mut self.mixed);
        self.loudness.push(&self.mixed)?;
        let mut pcm48 = Vec::new();
        self.resampler.push(&self.mixed, &mut pcm48)?;
        Ok(pcm48)
    }
}

/// The stages for PCM of `fmt`: the front, and one lane per rendition (whose init parts go to
/// the sink now).
fn stages(
    fmt: &PcmFormat,
    settings: &TranscodeSettings,
    target: u64,
    resume: &Resume,
    expected_seconds: Option<f64>,
    sink: Sink<'_>,
) -> Result<(Front, Vec<Lane>), TranscodeError> {
    let mixer = ChannelMixer::new(&fmt.channels);
    let out_channels = mixer.out_channels();
    let resampler = To48k::new(fmt.sample_rate, out_channels)?;
    let channels_in = u16::try_from(fmt.channel_count())
        .map_err(|_| TranscodeError::CorruptMedia("channel count out of range".into()))?;
    let track_channels = u16::try_from(out_channels).unwrap_or(2);
    let encoders = settings
        .ladder
        .iter()
        .map(|rendition| RenditionEncoder::new(rendition, out_channels))
        .collect::<Result<Vec<_>, _>>()?;
    let grids: Vec<SegmentGrid> = encoders
        .iter()
        .map(|encoder| SegmentGrid::new(encoder.frame_samples() as u64, encoder.priming(), target))
        .collect();
    let resumed = resumable_segments(resume, &grids);
    let resumed_seconds = resume.stored.first().map_or(0.0, |stored| {
        stored.iter().take(resumed as usize).map(|(_, d)| d).sum()
    });
    sink(HlsPart::Started {
        expected_seconds,
        resumed_segments: resumed,
        resumed_seconds,
    })?;
    let mut lanes = Vec::with_capacity(settings.ladder.len());
    for (index, ((rendition, encoder), grid)) in settings.ladder.iter().zip(encoders).zip(grids).enumerate() {
        let track = encoder.track(track_channels, rendition.bitrate_bps);
        sink(HlsPart::Init {
            rendition: index,
            bytes: fmp4::init_segment(&track)?,
        })?;
        let stored = resume.stored.get(index).map_or(&[][..], Vec::as_slice);
        lanes.push(Lane::new(index, *rendition, encoder, grid, stored, resumed));
    }
    let front = Front {
        loudness: LoudnessMeter::new(fmt.sample_rate, out_channels)?,
        waveform: WaveformBuilder::new(fmt.sample_rate, fmt.channel_count(), settings.waveform)?,
        mixer,
        resampler,
        sample_rate_in: fmt.sample_rate,
        channels_in,
        frames_in: 0,
        mixed: Vec::new(),
    };
    Ok((front, lanes))
}

/// Where one rendition's segments start: packet `n` covers media time `[n·F, (n+1)·F)` (F the
/// frame length, media time = input sample + encoder priming), and a segment ends before the
/// first packet that starts at or past the next multiple of the target (plus the priming).
#[derive(Debug, Clone, Copy)]
struct SegmentGrid {
    frame_samples: u64,
    priming: u64,
    target: u64,
}

impl SegmentGrid {
    fn new(frame_samples: u64, priming: u64, target: u64) -> Self {
        Self {
            frame_samples: frame_samples.max(1),
            priming,
            target,
        }
    }

    /// The media time where segment `index + 1` begins, given where segment `index` begins
    /// (every segment holds at least one packet).
    fn next_start(&self, index: u32, start: u64) -> u64 {
        let boundary = self
            .priming
            .saturating_add(u64::from(index).saturating_add(1).saturating_mul(self.target));
        let first_packet = boundary.div_ceil(self.frame_samples);
        first_packet
            .max(start / self.frame_samples + 1)
            .saturating_mul(self.frame_samples)
    }

    /// The media time where segment `index` begins.
    fn start_of(&self, index: u32) -> u64 {
        (0..index).fold(0, |start, i| self.next_start(i, start))
    }

    /// `#EXTINF` of segment `index` when it is not the last one.
    fn full_duration_seconds(&self, index: u32, start: u64) -> f64 {
        let end = self.next_start(index, start);
        end.saturating_sub(start.max(self.priming)) as f64 / f64::from(TIMESCALE)
    }
}

/// How many leading segments every rendition can take over from `resume`: those stored with
/// exactly the duration these settings give them (the last, shorter segment is made again).
fn resumable_segments(resume: &Resume, grids: &[SegmentGrid]) -> u32 {
    if resume.stored.len() != grids.len() {
        return 0;
    }
    grids
        .iter()
        .zip(&resume.stored)
        .map(|(grid, stored)| {
            let mut start = 0;
            let mut matching = 0u32;
            for (index, (_, seconds)) in (0u32..).zip(stored) {
                if (grid.full_duration_seconds(index, start) - seconds).abs() > 1e-9 {
                    break;
                }
                start = grid.next_start(index, start);
                matching = index + 1;
            }
            matching
        })
        .min()
        .unwrap_or(0)
}

/// Frames an encoder resumed mid-stream runs before the packets it keeps: its delay plus two
/// frames, so that its first kept packet is made with warm state, as in an uninterrupted run.
fn preroll_frames(grid: &SegmentGrid) -> u64 {
    grid.priming.div_ceil(grid.frame_samples) + 2
}

/// One rendition's encoder, its not-yet-encoded samples and its segmenter.
struct Lane {
    rendition: Rendition,
    encoder: RenditionEncoder,
    pending: Vec<f32>,
    encoded: Vec<Vec<u8>>,
    segmenter: Segmenter,
    /// Input samples (per channel) not to encode: what lies before a resumed encoder's pre-roll.
    skip_samples: u64,
    /// Packets to drop: the pre-roll's.
    skip_packets: u64,
}

impl Lane {
    /// A lane that makes segments from `resumed` on; `stored` holds the earlier ones.
    fn new(
        index: usize,
        rendition: Rendition,
        encoder: RenditionEncoder,
        grid: SegmentGrid,
        stored: &[(u64, f64)],
        resumed: u32,
    ) -> Self {
        let first_packet = grid.start_of(resumed) / grid.frame_samples;
        let encoder_start = first_packet.saturating_sub(preroll_frames(&grid));
        let mut segmenter = Segmenter::new(index, grid);
        segmenter.resume_at(resumed, first_packet * grid.frame_samples, stored);
        Self {
            rendition,
            encoder,
            pending: Vec::new(),
            encoded: Vec::new(),
            segmenter,
            skip_samples: encoder_start * grid.frame_samples,
            skip_packets: first_packet - encoder_start,
        }
    }

    /// Encodes every complete frame of `pending` + `pcm48`, keeping the remainder.
    fn feed(
        &mut self,
        mut pcm48: &[f32],
        sink: Sink<'_>,
        cancelled: Cancelled<'_>,
    ) -> Result<(), TranscodeError> {
        let frame_len = self.encoder.frame_len();
        if self.skip_samples > 0 {
            let channels = (frame_len / self.encoder.frame_samples()).max(1);
            let skip = usize::try_from(self.skip_samples)
                .unwrap_or(usize::MAX)
                .saturating_mul(channels)
                .min(pcm48.len());
            pcm48 = &pcm48[skip..];
            self.skip_samples -= (skip / channels) as u64;
        }
        self.pending.extend_from_slice(pcm48);
        let mut consumed = 0;
        for frame in self.pending.chunks_exact(frame_len) {
            self.encoder.encode_frame(frame, &mut self.encoded)?;
            for packet in self.encoded.drain(..) {
                if self.skip_packets > 0 {
                    self.skip_packets -= 1;
                } else {
                    self.segmenter.push(packet, sink, cancelled)?;
                }
            }
            consumed += frame_len;
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Pads with silence until the packets cover the priming plus all `frames` real samples,
    /// then emits the last segment.
    fn finish(
        mut self,
        frames: u64,
        sink: Sink<'_>,
        cancelled: Cancelled<'_>,
    ) -> Result<RenditionSummary, TranscodeError> {
        let grid = self.segmenter.grid;
        let presentation_end = grid.priming.saturating_add(frames);
        let needed = presentation_end.div_ceil(grid.frame_samples);
        let frame_len = self.encoder.frame_len();
        // An encoder that buffers (AAC) yields its last packets only as more input arrives;
        // a few frames beyond its delay always suffice, so more means it is broken.
        let mut budget = needed
            .saturating_sub(self.segmenter.packets_out())
            .saturating_add(self.skip_packets)
            .saturating_add(grid.priming / grid.frame_samples + 8);
        while self.segmenter.packets_out() < needed {
            if budget == 0 {
                return Err(TranscodeError::Encoder(format!(
                    "{}: the encoder stopped yielding packets",
                    self.rendition
                )));
            }
            budget -= 1;
            self.pending.resize(frame_len, 0.0);
            self.encoder.encode_frame(&self.pending, &mut self.encoded)?;
            self.pending.clear();
            for packet in self.encoded.drain(..) {
                if self.skip_packets > 0 {
                    self.skip_packets -= 1;
                } else if self.segmenter.packets_out() < needed {
                    self.segmenter.push(packet, sink, cancelled)?;
                }
            }
        }
        self.segmenter.finish(presentation_end, sink, cancelled)?;
        Ok(RenditionSummary {
            rendition: self.rendition,
            peak_bitrate_bps: self.segmenter.peak_bitrate_bps(),
            average_bitrate_bps: self.segmenter.average_bitrate_bps(),
            segment_durations: self.segmenter.durations.iter().map(|(_, d)| *d).collect(),
        })
    }
}

/// Groups one rendition's packets into segments whose boundaries fall on multiples of the
/// target length in presentation time, and hands finished fragments to the sink.
struct Segmenter {
    rendition: usize,
    grid: SegmentGrid,
    packets: Vec<Vec<u8>>,
    index: u32,
    /// Media time of the first packet in `packets`.
    start: u64,
    /// `(bytes, #EXTINF seconds)` of every emitted segment, for the bit rates.
    durations: Vec<(u64, f64)>,
}

impl Segmenter {
    fn new(rendition: usize, grid: SegmentGrid) -> Self {
        Self {
            rendition,
            grid,
            packets: Vec::new(),
            index: 0,
            start: 0,
            durations: Vec::new(),
        }
    }

    /// Continues after `index` segments stored earlier (`stored` holds at least that many);
    /// the next packet pushed starts at media time `start`.
    fn resume_at(&mut self, index: u32, start: u64, stored: &[(u64, f64)]) {
        self.index = index;
        self.start = start;
        self.durations = stored.iter().take(index as usize).copied().collect();
    }

    fn packets_out(&self) -> u64 {
        (self.start / self.grid.frame_samples).saturating_add(self.packets.len() as u64)
    }

    /// Adds a packet. A segment is emitted only once a packet past its end boundary arrives,
    /// because the last segment's duration depends on the final sample count.
    fn push(
        &mut self,
        packet: Vec<u8>,
        sink: Sink<'_>,
        cancelled: Cancelled<'_>,
    ) -> Result<(), TranscodeError> {
        let packet_start = self
            .start
            .saturating_add((self.packets.len() as u64).saturating_mul(self.grid.frame_samples));
        if !self.packets.is_empty() && packet_start >= self.grid.next_start(self.index, self.start) {
            self.emit(None, sink, cancelled)?;
        }
        self.packets.push(packet);
        Ok(())
    }

    /// Emits the final segment; `presentation_end` is the media time where real audio ends.
    fn finish(
        &mut self,
        presentation_end: u64,
        sink: Sink<'_>,
        cancelled: Cancelled<'_>,
    ) -> Result<(), TranscodeError> {
        if !self.packets.is_empty() {
            self.emit(Some(presentation_end), sink, cancelled)?;
        }
        Ok(())
    }

    fn emit(
        &mut self,
        presentation_end: Option<u64>,
        sink: Sink<'_>,
        cancelled: Cancelled<'_>,
    ) -> Result<(), TranscodeError> {
        if cancelled() {
            return Err(TranscodeError::Cancelled);
        }
        let sequence = self
            .index
            .checked_add(1)
            .ok_or_else(|| TranscodeError::Encoder("too many segments".into()))?;
        let frame_samples = u32::try_from(self.grid.frame_samples)
            .map_err(|_| TranscodeError::Encoder("frame size out of range".into()))?;
        let bytes = fmp4::media_segment(sequence, self.start, &self.packets, frame_samples)?;
        let media_len = (self.packets.len() as u64).saturating_mul(self.grid.frame_samples);
        let end = self.start.saturating_add(media_len);
        let visible_end = presentation_end.map_or(end, |p| end.min(p));
        let visible = visible_end.saturating_sub(self.start.max(self.grid.priming));
        let duration_seconds = visible as f64 / f64::from(TIMESCALE);
        self.durations.push((bytes.len() as u64, duration_seconds));
        sink(HlsPart::Segment {
            rendition: self.rendition,
            index: self.index,
            bytes,
            duration_seconds,
        })?;
        self.index = sequence;
        self.start = end;
        self.packets.clear();
        Ok(())
    }

    /// RFC 8216 §4.3.4.2: the largest bit rate of any run of consecutive segments lasting
    /// between 0.5 and 1.5 times the target duration (a segment's rate is its size over its
    /// `#EXTINF`); the whole rendition's rate when it is shorter than that.
    fn peak_bitrate_bps(&self) -> u64 {
        let target = self.grid.target as f64 / f64::from(TIMESCALE);
        let mut peak: Option<f64> = None;
        for start in 0..self.durations.len() {
            let (mut bytes, mut seconds) = (0u64, 0.0f64);
            for (size, duration) in self.durations.iter().skip(start) {
                bytes = bytes.saturating_add(*size);
                seconds += duration;
                if seconds > 1.5 * target {
                    break;
                }
                if seconds >= 0.5 * target {
                    let rate = bytes as f64 * 8.0 / seconds;
                    peak = Some(peak.map_or(rate, |p| p.max(rate)));
                }
            }
        }
        peak.map_or_else(|| self.average_bitrate_bps(), |p| p.ceil() as u64)
    }

    /// Total bits over total `#EXTINF` duration.
    fn average_bitrate_bps(&self) -> u64 {
        let bytes: u64 = self.durations.iter().map(|(b, _)| b).sum();
        let seconds: f64 = self.durations.iter().map(|(_, d)| d).sum();
        if seconds > 0.0 {
            (bytes as f64 * 8.0 / seconds).ceil() as u64
        } else {
            0
        }
    }
}
