//! The one module that talks to FFmpeg: video probing and bounded frame decoding on top of
//! `ffmpeg-next` 9.0 and the system FFmpeg 5.1 libraries (Debian 12), in-process.
//!
//! * [`probe`] opens the file, runs `avformat_find_stream_info` and reads the
//!   facts of the best video stream and of every audio stream. It opens (but
//!   never feeds) a decoder per stream, because `ffmpeg-next` only exposes
//!   width/height/pixel format/colour fields through an opened decoder.
//! * [`decode_frames`] decodes one video stream between two timestamps and
//!   hands each frame to a callback as 8-bit 4:2:0 planes.
//!
//! No `unsafe` and no panicking calls: `ffmpeg-next` itself panics on
//! non-UTF-8 paths or paths containing NUL (its `from_path` unwraps), and on
//! out-of-range plane indexes, so both are checked before calling it.

use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use ff::codec::threading;
use ff::color;
use ff::format::Pixel;
use ff::format::stream::Disposition;
use ff::media;
use ffmpeg_next as ff;

/// Open + probe (`avformat_open_input` + `avformat_find_stream_info`) must
/// finish within this time, or the I/O interrupt callback aborts it.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Decoder threads in [`decode_frames`]: one. The rungs encode a few frames a second, so a
/// second decoding thread gains nothing, and FFmpeg allocates through glibc's malloc, which gives
/// each new thread an arena of its own whose freed pages it keeps: with frame threading, every
/// chunk's decoder threads left a worker more resident memory (docs/video.md, "Memory").
const DECODE_THREADS: usize = 1;
/// Demuxer read errors (or decoder errors) in a row before we give up.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 64;
/// Relative difference between r_frame_rate and avg_frame_rate above which a
/// stream is called variable frame rate.
const VFR_TOLERANCE: f64 = 0.001;
/// Slack when comparing frame times with the requested range, so that a
/// frame exactly at `start_seconds` is not lost to float rounding.
const TIME_EPSILON: f64 = 1e-6;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// File missing, unreadable, not a regular file, bad path, or an OS-level
    /// error reported by FFmpeg.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Not a media file FFmpeg recognises, or corrupt/truncated so that the
    /// container cannot be parsed.
    #[error("not a readable media file: {0}")]
    Unreadable(String),
    /// No video stream (cover art does not count); how many audio streams there are instead.
    #[error("no video stream")]
    NoVideoStream {
        /// Audio streams in the file.
        audio_streams: usize,
    },
    /// The stream's codec has no decoder in this FFmpeg build.
    #[error("no usable decoder for codec {0}")]
    UnsupportedCodec(String),
    #[error("opening/probing took longer than {0:?}")]
    TimedOut(Duration),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Failure while decoding or converting frames.
    #[error("decoding failed: {0}")]
    Decode(String),
}

/// A frame rate as an exact rational (`num/den`, both > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    pub num: i32,
    pub den: i32,
}

impl Ratio {
    fn from_ff(r: ff::Rational) -> Option<Self> {
        (r.numerator() > 0 && r.denominator() > 0).then(|| Ratio {
            num: r.numerator(),
            den: r.denominator(),
        })
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorRange {
    /// "tv"/"mpeg" range (16-235 for 8-bit luma).
    Limited,
    /// "pc"/"jpeg" range (0-255); also implied by the yuvj* pixel formats.
    Full,
    Unspecified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hdr {
    /// transfer = smpte2084
    Pq,
    /// transfer = arib-std-b67
    Hlg,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStreamFacts {
    pub index: usize,
    /// FFmpeg codec id name: "h264", "hevc", "vp8", "vp9", "av1", "mjpeg", ...
    pub codec: String,
    /// Stored frame size, before applying `rotation_degrees`.
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation to apply for display, normalised to 0..360 and
    /// rounded to whole degrees (from the display-matrix side data). Note
    /// that `ffprobe` prints the opposite sign (`rotation=-90` here is 90).
    pub rotation_degrees: u16,
    pub avg_frame_rate: Option<Ratio>,
    /// AVStream.r_frame_rate ("real" base frame rate guessed by libavformat).
    pub real_frame_rate: Option<Ratio>,
    /// Heuristic: both rates known and differing by more than 0.1 %.
    pub variable_frame_rate: bool,
    /// Stream duration, or the container duration when the stream has none.
    pub duration_seconds: Option<f64>,
    /// AVStream.nb_frames when the container stores it (MP4/MOV do, WebM doesn't).
    pub frame_count: Option<u64>,
    /// e.g. "yuv420p", "yuv420p10le", "yuvj420p".
    pub pixel_format: Option<String>,
    /// Bits per component of the pixel format (8, 10, 12...).
    pub bit_depth: Option<u8>,
    pub color_range: ColorRange,
    /// FFmpeg names: "bt709", "bt2020", ...
    pub color_primaries: Option<String>,
    /// FFmpeg names: "bt709", "smpte2084" (PQ), "arib-std-b67" (HLG), ...
    pub transfer_characteristic: Option<String>,
    /// FFmpeg names: "bt709", "bt2020nc", "smpte170m", ...
    pub matrix_coefficients: Option<String>,
    pub hdr: Option<Hdr>,
}

impl VideoStreamFacts {
    /// Frame size after applying the rotation.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation_degrees % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioStreamFacts {
    pub index: usize,
    pub codec: String,
    /// `None` when no decoder for the codec is available.
    pub channels: Option<u16>,
    pub sample_rate: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoFacts {
    /// libavformat demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" (MP4 and MOV
    /// share it) or "matroska,webm".
    pub container: String,
    /// Container duration in seconds.
    pub container_duration_seconds: Option<f64>,
    pub video: VideoStreamFacts,
    pub audio: Vec<AudioStreamFacts>,
}

/// Reads the container headers (plus what `avformat_find_stream_info`
/// reads) and returns the facts of the best video stream and the audio
/// streams.
pub fn probe(path: &Path) -> Result<VideoFacts, ProbeError> {
    let input = open_input(path)?.input;

    let container = input.format().name().to_owned();
    let container_duration_seconds = av_time_to_seconds(input.duration());

    let audio_streams = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio)
        .count();
    let no_video = ProbeError::NoVideoStream { audio_streams };
    let video_index = best_video_stream(&input).ok_or(no_video)?;
    let stream = input
        .stream(video_index)
        .ok_or(ProbeError::NoVideoStream { audio_streams })?;

    let codec_id = stream.parameters().id();
    let codec = codec_id.name().to_owned();
    let decoder = open_video_decoder(&stream, 1, &codec)?;

    let pixel = decoder.format();
    let pixel_format = pixel.descriptor().map(|d| d.name().to_owned());
    let color_range = match decoder.color_range() {
        color::Range::JPEG => ColorRange::Full,
        color::Range::MPEG => ColorRange::Limited,
        color::Range::Unspecified if is_yuvj(pixel) => ColorRange::Full,
        color::Range::Unspecified => ColorRange::Unspecified,
    };
    let transfer = decoder.color_transfer_characteristic();
    let hdr = match transfer {
        color::TransferCharacteristic::SMPTE2084 => Some(Hdr::Pq),
        color::TransferCharacteristic::ARIB_STD_B67 => Some(Hdr::Hlg),
        _ => None,
    };

    let avg_frame_rate = Ratio::from_ff(stream.avg_frame_rate());
    let real_frame_rate = Ratio::from_ff(stream.rate());
    let variable_frame_rate = match (avg_frame_rate, real_frame_rate) {
        (Some(a), Some(r)) => (a.as_f64() - r.as_f64()).abs() / r.as_f64() > VFR_TOLERANCE,
        _ => false,
    };

    let rotation_degrees = stream
        .side_data()
        .filter(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .find_map(|sd| clockwise_rotation_from_display_matrix(sd.data()))
        .map_or(0, normalise_degrees);

    let duration_seconds =
        stream_ts_to_seconds(stream.duration(), stream.time_base()).or(container_duration_seconds);
    let frame_count = u64::try_from(stream.frames()).ok().filter(|&n| n > 0);

    let video = VideoStreamFacts {
        index: video_index,
        codec,
        width: decoder.width(),
        height: decoder.height(),
        rotation_degrees,
        avg_frame_rate,
        real_frame_rate,
        variable_frame_rate,
        duration_seconds,
        frame_count,
        pixel_format,
        bit_depth: bit_depth(pixel),
        color_range,
        color_primaries: decoder.color_primaries().name().map(str::to_owned),
        transfer_characteristic: transfer.name().map(str::to_owned),
        matrix_coefficients: decoder.color_space().name().map(str::to_owned),
        hdr,
    };

    let audio = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio)
        .map(|s| {
            let params = s.parameters();
            let codec = params.id().name().to_owned();
            let opened = ff::codec::Context::from_parameters(params)
                .ok()
                .and_then(|mut ctx| {
                    ctx.set_threading(threading::Config {
                        kind: threading::Type::None,
                        count: 1,
                        ..Default::default()
                    });
                    ctx.decoder().audio().ok()
                });
            AudioStreamFacts {
                index: s.index(),
                codec,
                channels: opened.as_ref().map(|d| d.channels()).filter(|&c| c > 0),
                sample_rate: opened.as_ref().map(|d| d.rate()).filter(|&r| r > 0),
            }
        })
        .collect();

    Ok(VideoFacts {
        container,
        container_duration_seconds,
        video,
        audio,
    })
}

/// One decoded frame as 4:2:0 planar YUV: 8-bit samples, or for sources of
/// more than 8 bits 10-bit samples as little-endian pairs of bytes (`bits`).
/// Chroma planes are `(width + 1) / 2` x `(height + 1) / 2`; each plane
/// slice is `stride * plane_height` bytes (rows may carry padding past the
/// width).
#[derive(Debug)]
pub struct Yuv420Frame<'a> {
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    pub u_stride: usize,
    pub v_stride: usize,
    pub width: u32,
    pub height: u32,
    /// Presentation time in seconds, relative to the stream's start time.
    pub pts_seconds: f64,
    /// The samples keep the source's range: true means 0-255 (full/"pc")
    /// range, false means limited or unspecified (treat as limited).
    pub full_range: bool,
    /// Bits per sample: 8, or 10 (two bytes each).
    pub bits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeSummary {
    /// Frames handed to the callback.
    pub delivered: usize,
    /// Decoder calls that reported corrupt data (the data was skipped).
    pub corrupt_packets: usize,
    /// Demuxer reads of this stream that failed with invalid data or gave a
    /// packet flagged corrupt (e.g. cut short by a truncated file).
    pub bad_reads: usize,
}

/// Decodes the video stream `stream_index` for presentation times in
/// `[start_seconds, end_seconds)` (seconds relative to the stream start),
/// seeking to the keyframe at or before `start_seconds` and discarding the
/// frames before it. Each frame is converted to 8-bit yuv420p (10-bit input
/// is reduced to 8 bits; full-range input stays full range, flagged in
/// [`Yuv420Frame::full_range`]). The callback can stop early with
/// `ControlFlow::Break(())`.
pub fn decode_frames<F>(
    path: &Path,
    stream_index: usize,
    start_seconds: f64,
    end_seconds: f64,
    mut callback: F,
) -> Result<DecodeSummary, ProbeError>
where
    F: FnMut(&Yuv420Frame<'_>) -> ControlFlow<()>,
{
    if !(start_seconds.is_finite() && end_seconds.is_finite())
        || start_seconds < 0.0
        || end_seconds <= start_seconds
    {
        return Err(ProbeError::InvalidArgument(format!(
            "need 0 <= start < end, got start={start_seconds} end={end_seconds}"
        )));
    }

    let mut opened = open_input(path)?;
    // Reads after the open phase may take as long as the callback needs.
    opened.open_phase.store(false, Ordering::Relaxed);

    let (time_base, stream_start, mut decoder) = {
        let stream = opened
            .input
            .stream(stream_index)
            .ok_or_else(|| ProbeError::InvalidArgument(format!("no stream with index {stream_index}")))?;
        if stream.parameters().medium() != media::Type::Video {
            return Err(ProbeError::InvalidArgument(format!(
                "stream {stream_index} is not a video stream"
            )));
        }
        let codec = stream.parameters().id().name().to_owned();
        let decoder = open_video_decoder(&stream, DECODE_THREADS, &codec)?;
        let start = match stream.start_time() {
            ff::ffi::AV_NOPTS_VALUE => 0,
            t => t,
        };
        (stream.time_base(), start, decoder)
    };
    if time_base.numerator() <= 0 || time_base.denominator() <= 0 {
        return Err(ProbeError::Unreadable("stream has no valid time base".into()));
    }
    let tb = (
        f64::from(time_base.numerator()),
        f64::from(time_base.denominator()),
    );

    if start_seconds > 0.0 {
        // avformat_seek_file with stream -1 takes AV_TIME_BASE (µs) units on
        // the absolute timeline; max_ts = target gives the keyframe at or
        // before the target.
        let target = (start_seconds + stream_start as f64 * tb.0 / tb.1) * 1_000_000.0;
        let target = target.clamp(0.0, i64::MAX as f64 / 2.0) as i64;
        if opened.input.seek(target, ..target).is_err() {
            // Not seekable: decode from the beginning and discard instead.
            opened = open_input(path)?;
            opened.open_phase.store(false, Ordering::Relaxed);
        }
    }

    let mut state = FrameSink {
        tb,
        stream_start,
        start_seconds,
        end_seconds,
        last_pts_seconds: None,
        scaler: None,
        converted: ff::frame::Video::empty(),
        summary: DecodeSummary::default(),
    };
    let mut frame = ff::frame::Video::empty();
    let mut packet = ff::Packet::empty();
    let mut read_errors = 0u32;

    loop {
        match packet.read(&mut opened.input) {
            Ok(()) => {
                read_errors = 0;
                if packet.stream() != stream_index {
                    continue;
                }
                if packet.is_corrupt() {
                    state.summary.bad_reads += 1;
                }
                match decoder.send_packet(&packet) {
                    Ok(()) => {}
                    Err(ff::Error::InvalidData) => state.summary.corrupt_packets += 1,
                    Err(e) => return Err(ProbeError::Decode(e.to_string())),
                }
                if state.drain(&mut decoder, &mut frame, &mut callback)?.is_break() {
                    return Ok(state.summary);
                }
            }
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) => {
                read_errors += 1;
                state.summary.bad_reads += 1;
                if read_errors > MAX_CONSECUTIVE_READ_ERRORS {
                    return Err(ProbeError::Unreadable("too many demuxer errors".into()));
                }
            }
            Err(e) => return Err(map_ff_error(e)),
        }
    }

    // Flush the frames still buffered in the decoder. send_* may report the
    // error of an earlier packet, hence InvalidData is tolerated here too.
    match decoder.send_eof() {
        Ok(()) | Err(ff::Error::Eof) => {}
        Err(ff::Error::InvalidData) => state.summary.corrupt_packets += 1,
        Err(e) => return Err(ProbeError::Decode(e.to_string())),
    }
    // Break or Continue: we are done either way.
    let _ = state.drain(&mut decoder, &mut frame, &mut callback)?;
    Ok(state.summary)
}

struct FrameSink {
    /// Stream time base as (numerator, denominator).
    tb: (f64, f64),
    stream_start: i64,
    start_seconds: f64,
    end_seconds: f64,
    last_pts_seconds: Option<f64>,
    scaler: Option<ff::software::scaling::Context>,
    converted: ff::frame::Video,
    summary: DecodeSummary,
}

impl FrameSink {
    /// Pulls every frame the decoder has ready. `Break` means "stop reading".
    fn drain<F>(
        &mut self,
        decoder: &mut ff::decoder::Video,
        frame: &mut ff::frame::Video,
        callback: &mut F,
    ) -> Result<ControlFlow<()>, ProbeError>
    where
        F: FnMut(&Yuv420Frame<'_>) -> ControlFlow<()>,
    {
        let mut errors_in_a_row = 0u32;
        loop {
            match decoder.receive_frame(frame) {
                Ok(()) => {
                    errors_in_a_row = 0;
                    if self.handle(frame, callback)?.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Err(ff::Error::Other {
                    errno: ff::error::EAGAIN,
                })
                | Err(ff::Error::Eof) => {
                    return Ok(ControlFlow::Continue(()));
                }
                Err(ff::Error::InvalidData) => {
                    self.summary.corrupt_packets += 1;
                    errors_in_a_row += 1;
                    if errors_in_a_row > MAX_CONSECUTIVE_READ_ERRORS {
                        return Err(ProbeError::Decode("decoder keeps failing".into()));
                    }
                }
                Err(e) => return Err(ProbeError::Decode(e.to_string())),
            }
        }
    }

    fn handle<F>(
        &mut self,
        frame: &mut ff::frame::Video,
        callback: &mut F,
    ) -> Result<ControlFlow<()>, ProbeError>
    where
        F: FnMut(&Yuv420Frame<'_>) -> ControlFlow<()>,
    {
        let pts_seconds = match frame.timestamp().or(frame.pts()) {
            Some(ts) => ts.saturating_sub(self.stream_start) as f64 * self.tb.0 / self.tb.1,
            // No timestamp at all: keep the previous one (in range or not).
            None => self.last_pts_seconds.unwrap_or(0.0),
        };
        self.last_pts_seconds = Some(pts_seconds);
        if pts_seconds + TIME_EPSILON < self.start_seconds {
            return Ok(ControlFlow::Continue(()));
        }
        if pts_seconds + TIME_EPSILON >= self.end_seconds {
            return Ok(ControlFlow::Break(()));
        }

        // yuvj* formats are the yuv* layouts flagged as full range. Relabel
        // them so swscale copies the samples instead of squeezing them into
        // limited range, and report the range to the caller instead.
        let source_format = frame.format();
        let full_range = is_yuvj(source_format) || frame.color_range() == color::Range::JPEG;
        if let Some(plain) = yuvj_to_yuv(source_format) {
            frame.set_format(plain);
        }

        let (width, height) = (frame.width(), frame.height());
        // More than 8 bits stay 10 (HDR needs them to tone-map without banding).
        let (target, bits) = match bit_depth(frame.format()) {
            Some(depth) if depth > 8 => (Pixel::YUV420P10LE, 10),
            _ => (Pixel::YUV420P, 8),
        };
        let out: &ff::frame::Video = if frame.format() == target {
            frame
        } else {
            let stale = self.scaler.as_ref().is_none_or(|s| {
                let (i, o) = (s.input(), s.output());
                i.format != frame.format() || i.width != width || i.height != height || o.format != target
            });
            if stale {
                let scaler = ff::software::scaling::Context::get(
                    frame.format(),
                    width,
                    height,
                    target,
                    width,
                    height,
                    ff::software::scaling::Flags::BILINEAR,
                )
                .map_err(|_| {
                    ProbeError::Decode(format!(
                        "swscale cannot convert {:?} {width}x{height} to {target:?}",
                        frame.format()
                    ))
                })?;
                self.scaler = Some(scaler);
                self.converted = ff::frame::Video::empty();
            }
            let scaler = self
                .scaler
                .as_mut()
                .ok_or_else(|| ProbeError::Decode("scaler missing".into()))?;
            scaler
                .run(frame, &mut self.converted)
                .map_err(|e| ProbeError::Decode(format!("swscale: {e}")))?;
            &self.converted
        };

        if out.planes() < 3 || width == 0 || height == 0 {
            return Err(ProbeError::Decode("frame without three planes".into()));
        }
        let yuv = Yuv420Frame {
            y: out.data(0),
            u: out.data(1),
            v: out.data(2),
            y_stride: out.stride(0),
            u_stride: out.stride(1),
            v_stride: out.stride(2),
            width,
            height,
            pts_seconds,
            full_range,
            bits,
        };
        self.summary.delivered += 1;
        Ok(callback(&yuv))
    }
}

// ---------------------------------------------------------------------------
// helpers

pub(super) struct OpenedInput {
    pub(super) input: ff::format::context::Input,
    /// While true, the interrupt callback aborts I/O once the deadline passes.
    pub(super) open_phase: Arc<AtomicBool>,
}

/// `ffmpeg_next::init()` fills the static table that `ff::Error`'s
/// `Display` reads; without it every FFmpeg error message is empty. Run it
/// exactly once (it writes a `static mut`).
fn ensure_init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Only fails for device registration, which is not compiled in.
        let _ = ff::init();
        // FFmpeg prints its own complaints to stderr; every failure reaches the caller as a
        // `ProbeError`, so only fatal ones are printed.
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

pub(super) fn open_input(path: &Path) -> Result<OpenedInput, ProbeError> {
    ensure_init();
    // Plain std checks first: precise io::ErrorKind for missing files,
    // permissions and directories.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file").into());
    }
    drop(std::fs::File::open(path)?);
    // ffmpeg-next's path conversion unwraps, so reject what would panic.
    let path_str = path
        .to_str()
        .filter(|s| !s.contains('\0'))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not valid UTF-8"))?;

    // "file:" forces the file protocol, so names like "x:y.mp4" or
    // "concat:a|b" are not taken as protocols; the whitelist stops
    // playlists (HLS, concat...) from pulling other protocols in.
    let url = format!("file:{path_str}");
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");

    let open_phase = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&open_phase);
    let deadline = Instant::now() + OPEN_TIMEOUT;
    let interrupt = move || flag.load(Ordering::Relaxed) && Instant::now() >= deadline;

    match ff::format::input_with_interrupt_and_dictionary(&url, interrupt, options) {
        Ok(input) => Ok(OpenedInput { input, open_phase }),
        Err(ff::Error::Exit) => Err(ProbeError::TimedOut(OPEN_TIMEOUT)),
        Err(e) => Err(map_ff_error(e)),
    }
}

pub(super) fn map_ff_error(e: ff::Error) -> ProbeError {
    match e {
        ff::Error::Other { errno } => ProbeError::Io(io::Error::from_raw_os_error(errno)),
        ff::Error::Exit => ProbeError::TimedOut(OPEN_TIMEOUT),
        other => ProbeError::Unreadable(other.to_string()),
    }
}

/// The stream `av_find_best_stream` picks, unless it is cover art
/// (attached picture): then the first real video stream, if any.
fn best_video_stream(input: &ff::format::context::Input) -> Option<usize> {
    let is_real_video = |s: &ff::Stream<'_>| {
        s.parameters().medium() == media::Type::Video && !s.disposition().contains(Disposition::ATTACHED_PIC)
    };
    input
        .streams()
        .best(media::Type::Video)
        .filter(|s| is_real_video(s))
        .map(|s| s.index())
        .or_else(|| input.streams().find(|s| is_real_video(s)).map(|s| s.index()))
}

fn open_video_decoder(
    stream: &ff::Stream<'_>,
    threads: usize,
    codec_name: &str,
) -> Result<ff::decoder::Video, ProbeError> {
    let mut ctx = ff::codec::Context::from_parameters(stream.parameters())
        .map_err(|e| ProbeError::Unreadable(format!("codec parameters: {e}")))?;
    // Config::count(n) alone leaves kind = None (thread_type 0), which turns
    // threading off, so set both.
    ctx.set_threading(threading::Config {
        kind: if threads > 1 {
            threading::Type::Frame
        } else {
            threading::Type::None
        },
        count: threads,
        ..Default::default()
    });
    ctx.decoder().video().map_err(|e| match e {
        ff::Error::DecoderNotFound => ProbeError::UnsupportedCodec(codec_name.to_owned()),
        other => ProbeError::UnsupportedCodec(format!("{codec_name}: {other}")),
    })
}

/// Clockwise display rotation in degrees from a 3x3 display matrix (nine
/// native-endian i32, 16.16 fixed point in the first two columns), the
/// negation of libavutil's `av_display_rotation_get` (which returns the
/// counter-clockwise angle). `None` for a degenerate matrix.
fn clockwise_rotation_from_display_matrix(data: &[u8]) -> Option<f64> {
    let at = |i: usize| -> Option<f64> {
        let bytes: [u8; 4] = data.get(i * 4..i * 4 + 4)?.try_into().ok()?;
        Some(f64::from(i32::from_ne_bytes(bytes)) / 65536.0)
    };
    let (m0, m1, m3, m4) = (at(0)?, at(1)?, at(3)?, at(4)?);
    let (scale0, scale1) = (m0.hypot(m3), m1.hypot(m4));
    if scale0 == 0.0 || scale1 == 0.0 {
        return None;
    }
    Some((m1 / scale1).atan2(m0 / scale0).to_degrees())
}

fn normalise_degrees(deg: f64) -> u16 {
    // rem_euclid keeps it in 0..360; the final % folds 359.6 -> 360 -> 0.
    (deg.round().rem_euclid(360.0) as u16) % 360
}

fn stream_ts_to_seconds(ts: i64, time_base: ff::Rational) -> Option<f64> {
    if ts == ff::ffi::AV_NOPTS_VALUE || ts <= 0 || time_base.denominator() <= 0 {
        return None;
    }
    Some(ts as f64 * f64::from(time_base.numerator()) / f64::from(time_base.denominator()))
}

fn av_time_to_seconds(ts: i64) -> Option<f64> {
    (ts != ff::ffi::AV_NOPTS_VALUE && ts > 0).then(|| ts as f64 / f64::from(ff::ffi::AV_TIME_BASE))
}

fn is_yuvj(p: Pixel) -> bool {
    yuvj_to_yuv(p).is_some()
}

fn yuvj_to_yuv(p: Pixel) -> Option<Pixel> {
    match p {
        Pixel::YUVJ420P => Some(Pixel::YUV420P),
        Pixel::YUVJ422P => Some(Pixel::YUV422P),
        Pixel::YUVJ444P => Some(Pixel::YUV444P),
        Pixel::YUVJ440P => Some(Pixel::YUV440P),
        Pixel::YUVJ411P => Some(Pixel::YUV411P),
        _ => None,
    }
}

/// Bits per component. ffmpeg-next does not expose the descriptor's
/// `comp[].depth` without `unsafe`, so invert `av_get_bits_per_pixel`
/// (sum of component depths, chroma components 1 and 2 subsampled), which
/// is exact for formats whose components share one depth.
fn bit_depth(p: Pixel) -> Option<u8> {
    let d = p.descriptor()?;
    let bpp = d.bits_per_pixel();
    let n = i64::from(d.nb_components());
    let log2_pixels = u32::from(d.log2_chroma_w()) + u32::from(d.log2_chroma_h());
    if bpp <= 0 || n == 0 || log2_pixels > 8 {
        return None;
    }
    (1u8..=32).find(|&depth| {
        let depth = i64::from(depth);
        let bits = if n >= 3 {
            ((depth * (n - 2)) << log2_pixels) + 2 * depth
        } else {
            depth * n
        };
        (bits >> log2_pixels) == i64::from(bpp)
    })
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn matrix_bytes(m: [i32; 9]) -> Vec<u8> {
        m.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrix_rotations() {
        let one = 0x10000;
        let w = 0x4000_0000;
        let cases = [
            ([one, 0, 0, 0, one, 0, 0, 0, w], 0u16),
            ([0, one, 0, -one, 0, 0, 0, 0, w], 90),
            ([-one, 0, 0, 0, -one, 0, 0, 0, w], 180),
            ([0, -one, 0, one, 0, 0, 0, 0, w], 270),
        ];
        for (m, want) in cases {
            let got = clockwise_rotation_from_display_matrix(&matrix_bytes(m)).map(normalise_degrees);
            assert_eq!(got, Some(want), "matrix {m:?}");
        }
        assert_eq!(clockwise_rotation_from_display_matrix(&[0u8; 36]), None);
        assert_eq!(clockwise_rotation_from_display_matrix(&[1u8; 8]), None);
    }

    #[test]
    fn bit_depths() {
        assert_eq!(bit_depth(Pixel::YUV420P), Some(8));
        assert_eq!(bit_depth(Pixel::YUVJ420P), Some(8));
        assert_eq!(bit_depth(Pixel::YUV420P10LE), Some(10));
        assert_eq!(bit_depth(Pixel::YUV420P12LE), Some(12));
        assert_eq!(bit_depth(Pixel::YUV420P9LE), Some(9));
        assert_eq!(bit_depth(Pixel::YUV422P10LE), Some(10));
        assert_eq!(bit_depth(Pixel::YUV444P), Some(8));
        assert_eq!(bit_depth(Pixel::NV12), Some(8));
        assert_eq!(bit_depth(Pixel::P010LE), Some(10));
        assert_eq!(bit_depth(Pixel::GRAY8), Some(8));
        assert_eq!(bit_depth(Pixel::RGB24), Some(8));
        assert_eq!(bit_depth(Pixel::None), None);
    }

    #[test]
    fn degrees_normalise() {
        assert_eq!(normalise_degrees(-90.0), 270);
        assert_eq!(normalise_degrees(359.7), 0);
        assert_eq!(normalise_degrees(450.0), 90);
    }
}
