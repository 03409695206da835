//! AV1 encoding over `rav1e` 0.8, shaped for segmented (HLS/CMAF) delivery.
//!
//! A crate of its own for one reason: rav1e's encoder is generic over the pixel type, so its hot
//! code is compiled in the crate that calls it, at that crate's optimisation level. The
//! workspace's dev profile optimises this crate (and rav1e), so debug builds — the tests — encode
//! at close to release speed while the rest of the workspace stays quick to build. [`bits`] is here
//! too: the H.264 SPS parser beside the H.264 encoder reads with the same bit reader.
//!
//! * 8-bit 4:2:0, limited range, BT.709 primaries/transfer/matrix signalled in the
//!   sequence header.
//! * Keyframes exactly at input frames `0, keyint, 2*keyint, ...` and nowhere else
//!   (scene-cut detection off, forced keyframes at every multiple, max interval = keyint).
//!   Every packet is checked against this rule; a violation is an error, not a silent
//!   misalignment.
//! * One [`Av1Packet`] per input frame, in input (display) order. Its `data` is the AV1
//!   temporal unit in ISOBMFF sample form: the temporal-delimiter (and padding) OBUs are
//!   removed, as the AV1-ISOBMFF binding asks; keyframe packets carry the sequence header OBU.
//! * The seq_level_idx is chosen by this module (the smallest AV1 level whose picture size,
//!   dimensions, display rate, tile count and — in bitrate mode — Main-tier bitrate fit)
//!   instead of rav1e's default 31 ("unconstrained"), so the `CODECS` string is meaningful.
//! * [`Av1Encoder::av1c`] is built from the sequence header OBU that rav1e actually writes in
//!   the bitstream (rav1e's `container_sequence_header()` only returns the 4 fixed bytes and
//!   hard-codes seq_level_idx_0 = 31 and chroma_sample_position = 0, so its fields are
//!   re-derived from the real sequence header).

use std::sync::{Arc, OnceLock};

use rav1e::prelude::{
    ChromaSamplePosition, ChromaSampling, ColorDescription, ColorPrimaries, Config, Context, EncoderConfig,
    EncoderStatus, Frame, FrameParameters, FrameType, FrameTypeOverride, MatrixCoefficients, PixelRange,
    Rational, SceneDetectionSpeed, TransferCharacteristics,
};

pub mod bits;
pub mod planes;

use bits::{BitReader, BitsError};
use planes::tight_plane;

/// Errors from [`Av1Encoder`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Av1Error {
    #[error("invalid AV1 encoder configuration: {0}")]
    Config(String),
    #[error("invalid input frame: {0}")]
    Input(String),
    #[error("rav1e encoder failure: {0}")]
    Encoder(String),
    #[error("malformed AV1 bitstream: {0}")]
    Bitstream(String),
    #[error("encoder already finished")]
    Finished,
}

impl From<BitsError> for Av1Error {
    fn from(err: BitsError) -> Self {
        Self::Bitstream(format!("sequence header: {err}"))
    }
}

/// Encoder settings. `bitrate_kbps == 0` selects constant-quantizer mode using `quantizer`
/// (rav1e scale 0..=255); otherwise `quantizer` is the largest base quantizer rate control may
/// choose (rav1e's `RCState` takes any value below 255 as that cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Settings {
    /// rav1e speed preset 0 (slowest) ..= 10 (fastest).
    pub speed: u8,
    /// Requested tile count (0 = rav1e's choice).
    pub tiles: usize,
    /// Worker threads (0 = rav1e/rayon default).
    pub threads: usize,
    /// Target bitrate in kbit/s; 0 = constant quantizer.
    pub bitrate_kbps: u32,
    /// Quantizer (0..=255) used when `bitrate_kbps == 0`; the cap in bitrate mode.
    pub quantizer: u8,
}

impl Default for Av1Settings {
    fn default() -> Self {
        Self {
            speed: 10,
            tiles: 0,
            threads: 0,
            bitrate_kbps: 0,
            quantizer: 100,
        }
    }
}

/// One encoded temporal unit (exactly one shown frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Packet {
    /// OBUs of the temporal unit, temporal delimiter removed (ISOBMFF sample format).
    pub data: Vec<u8>,
    /// Input frame number within this encoder (0-based).
    pub frame: u64,
    /// True for keyframes (random access points / sync samples).
    pub keyframe: bool,
}

/// AV1 encoder for 8-bit 4:2:0 frames.
pub struct Av1Encoder {
    ctx: Context<u8>,
    enc_cfg: EncoderConfig,
    width: usize,
    height: usize,
    keyint: u64,
    frames_in: u64,
    frames_out: u64,
    finished: bool,
    /// The complete sequence header OBU (header + leb128 size + payload) as written by rav1e.
    seq_header: OnceLock<Vec<u8>>,
}

// ---------------------------------------------------------------------------------------
// Levels (AV1 spec, Annex A.3). seq_level_idx = (major - 2) * 4 + minor.
// ---------------------------------------------------------------------------------------

struct LevelLimits {
    idx: u8,
    max_pic_size: u64,
    max_h: u64,
    max_v: u64,
    max_display_rate: u64,
    max_header_rate: u64,
    main_kbps: u64,
    max_tiles: u64,
}

#[allow(clippy::too_many_arguments)]
const fn lv(
    idx: u8,
    max_pic_size: u64,
    max_h: u64,
    max_v: u64,
    max_display_rate: u64,
    max_header_rate: u64,
    main_kbps: u64,
    max_tiles: u64,
) -> LevelLimits {
    LevelLimits {
        idx,
        max_pic_size,
        max_h,
        max_v,
        max_display_rate,
        max_header_rate,
        main_kbps,
        max_tiles,
    }
}

const LEVELS: [LevelLimits; 14] = [
    lv(0, 147_456, 2048, 1152, 4_423_680, 150, 1_500, 8),
    lv(1, 278_784, 2816, 1584, 8_363_520, 150, 3_000, 8),
    lv(4, 665_856, 4352, 2448, 19_975_680, 150, 6_000, 16),
    lv(5, 1_065_024, 5504, 3096, 31_950_720, 150, 10_000, 16),
    lv(8, 2_359_296, 6144, 3456, 70_778_880, 300, 12_000, 32),
    lv(9, 2_359_296, 6144, 3456, 141_557_760, 300, 20_000, 32),
    lv(12, 8_912_896, 8192, 4352, 267_386_880, 300, 30_000, 64),
    lv(13, 8_912_896, 8192, 4352, 534_773_760, 300, 40_000, 64),
    lv(14, 8_912_896, 8192, 4352, 1_069_547_520, 300, 60_000, 64),
    lv(15, 8_912_896, 8192, 4352, 1_069_547_520, 300, 60_000, 64),
    lv(16, 35_651_584, 16384, 8704, 1_069_547_520, 300, 60_000, 128),
    lv(17, 35_651_584, 16384, 8704, 2_139_095_040, 300, 100_000, 128),
    lv(18, 35_651_584, 16384, 8704, 4_278_190_080, 300, 160_000, 128),
    lv(19, 35_651_584, 16384, 8704, 4_278_190_080, 300, 160_000, 128),
];

/// Smallest defined level (Main tier) that fits; 31 (no level constraints) if none does.
fn select_level(width: u32, height: u32, fps: (u32, u32), settings: &Av1Settings) -> u8 {
    let (w, h) = (u64::from(width), u64::from(height));
    let pic = w * h;
    let (num, den) = (u64::from(fps.0), u64::from(fps.1.max(1)));
    for l in &LEVELS {
        let fits = pic <= l.max_pic_size
            && w <= l.max_h
            && h <= l.max_v
            // display rate: luma samples per second, pic * num / den <= max
            && pic.saturating_mul(num) <= l.max_display_rate.saturating_mul(den)
            // shown frame headers per second
            && num <= l.max_header_rate.saturating_mul(den)
            && (settings.tiles as u64) <= l.max_tiles
            && (settings.bitrate_kbps == 0 || u64::from(settings.bitrate_kbps) <= l.main_kbps);
        if fits {
            return l.idx;
        }
    }
    31
}

/// What one [`Av1Encoder`] of `width` x `height` at speed preset `speed` holds at its peak, in
/// MiB (an estimate, for a worker's memory budget). rav1e keeps its analysis of every frame of
/// its RDO lookahead (10 frames at speeds 8–10, 20 at 6–7, 30 at 3–5, 40 below) besides the
/// frames it reorders. Measured with rav1e 0.8 (peak RSS of one encoder fed 8-bit 4:2:0 noise,
/// 2 tiles, one thread, 70–240 frames; docs/video.md): at speed 10, 100 MiB at 640x360,
/// 313 MiB at 1280x720 and 629 MiB at 1920x1080; with a lookahead of 2 frames instead of 10,
/// 455 MiB at 1920x1080. So about 34 MiB plus (196 + 11 × lookahead) bytes per pixel.
pub fn memory_estimate_mib(width: u32, height: u32, speed: u8) -> u32 {
    let lookahead = EncoderConfig::with_speed_preset(speed.min(10))
        .speed_settings
        .rdo_lookahead_frames as u64;
    let pixels = u64::from(width) * u64::from(height);
    let mib = 34 + pixels * (196 + 11 * lookahead) / (1 << 20);
    u32::try_from(mib).unwrap_or(u32::MAX)
}

fn status_err(s: EncoderStatus) -> Av1Error {
    Av1Error::Encoder(s.to_string())
}

impl Av1Encoder {
    /// Create an encoder. See the module docs for the stream properties.
    pub fn new(
        width: u32,
        height: u32,
        fps: (u32, u32),
        keyint: u64,
        settings: &Av1Settings,
    ) -> Result<Self, Av1Error> {
        if width < 16 || height < 16 || width > 65535 || height > 65535 {
            return Err(Av1Error::Config(format!(
                "unsupported size {width}x{height} (16..=65535)"
            )));
        }
        if fps.0 == 0 || fps.1 == 0 {
            return Err(Av1Error::Config(format!(
                "invalid frame rate {}/{}",
                fps.0, fps.1
            )));
        }
        if keyint == 0 {
            return Err(Av1Error::Config("keyint must be >= 1".into()));
        }
        if settings.speed > 10 {
            return Err(Av1Error::Config(format!(
                "speed {} out of range 0..=10",
                settings.speed
            )));
        }
        let bitrate_bps = i32::try_from(u64::from(settings.bitrate_kbps) * 1000)
            .map_err(|_| Av1Error::Config(format!("bitrate {} kbps too large", settings.bitrate_kbps)))?;

        let mut enc = EncoderConfig::with_speed_preset(settings.speed);
        enc.width = width as usize;
        enc.height = height as usize;
        enc.sample_aspect_ratio = Rational::new(1, 1);
        // time_base is the frame duration: den/num of the frame rate.
        enc.time_base = Rational::new(u64::from(fps.1), u64::from(fps.0));
        enc.bit_depth = 8;
        enc.chroma_sampling = ChromaSampling::Cs420;
        enc.chroma_sample_position = ChromaSamplePosition::Unknown;
        enc.pixel_range = PixelRange::Limited;
        enc.color_description = Some(ColorDescription {
            color_primaries: ColorPrimaries::BT709,
            transfer_characteristics: TransferCharacteristics::BT709,
            matrix_coefficients: MatrixCoefficients::BT709,
        });
        enc.level_idx = Some(select_level(width, height, fps, settings));
        enc.still_picture = false;
        enc.error_resilient = false;
        enc.enable_timing_info = false;
        // Keyframes only at multiples of keyint: max interval = keyint (rav1e places a
        // keyframe at gop_start + max interval), scene detection off, and each multiple is
        // also forced per frame in `send`.
        enc.min_key_frame_interval = keyint;
        enc.max_key_frame_interval = keyint;
        enc.speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
        enc.switch_frame_interval = 0;
        enc.tiles = settings.tiles;
        enc.bitrate = bitrate_bps;
        enc.quantizer = usize::from(settings.quantizer);
        enc.low_latency = false;

        let cfg = Config::new()
            .with_encoder_config(enc.clone())
            .with_threads(settings.threads);
        cfg.validate().map_err(|e| Av1Error::Config(e.to_string()))?;
        let ctx: Context<u8> = cfg.new_context().map_err(|e| Av1Error::Config(e.to_string()))?;

        Ok(Self {
            ctx,
            enc_cfg: enc,
            width: width as usize,
            height: height as usize,
            keyint,
            frames_in: 0,
            frames_out: 0,
            finished: false,
            seq_header: OnceLock::new(),
        })
    }

    /// Queue one frame (Y plane `width x height`, U/V planes `(width+1)/2 x (height+1)/2`,
    /// each with its stride in bytes) and return the packets that became ready.
    pub fn send(
        &mut self,
        y: &[u8],
        y_stride: usize,
        u: &[u8],
        u_stride: usize,
        v: &[u8],
        v_stride: usize,
    ) -> Result<Vec<Av1Packet>, Av1Error> {
        if self.finished {
            return Err(Av1Error::Finished);
        }
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = tight_plane("Y", y, y_stride, w, h).map_err(Av1Error::Input)?;
        let u = tight_plane("U", u, u_stride, cw, ch).map_err(Av1Error::Input)?;
        let v = tight_plane("V", v, v_stride, cw, ch).map_err(Av1Error::Input)?;

        let mut frame: Frame<u8> = self.ctx.new_frame();
        {
            let [py, pu, pv] = &mut frame.planes;
            for (plane, data, pw, name) in [(py, &y, w, "Y"), (pu, &u, cw, "U"), (pv, &v, cw, "V")] {
                // copy_from_raw_u8 asserts on zero strides; widths are >= 8 here.
                if plane.cfg.stride < pw || pw == 0 {
                    return Err(Av1Error::Input(format!("{name} plane layout mismatch")));
                }
                plane.copy_from_raw_u8(data, pw, 1);
            }
        }

        let frameno = self.frames_in;
        let params = FrameParameters {
            frame_type_override: if frameno.is_multiple_of(self.keyint) {
                FrameTypeOverride::Key
            } else {
                FrameTypeOverride::No
            },
            ..Default::default()
        };
        self.ctx
            .send_frame((Arc::new(frame), params))
            .map_err(status_err)?;
        self.frames_in += 1;
        self.drain()
    }

    /// Flush: signal end of stream and return all remaining packets. Further `send`s fail;
    /// a second `finish` returns an empty list.
    pub fn finish(&mut self) -> Result<Vec<Av1Packet>, Av1Error> {
        if self.finished {
            return Ok(Vec::new());
        }
        self.finished = true;
        self.ctx.send_frame(None::<Arc<Frame<u8>>>).map_err(status_err)?;
        let out = self.drain()?;
        if self.frames_out != self.frames_in {
            return Err(Av1Error::Encoder(format!(
                "encoder returned {} packets for {} frames",
                self.frames_out, self.frames_in
            )));
        }
        Ok(out)
    }

    fn drain(&mut self) -> Result<Vec<Av1Packet>, Av1Error> {
        let mut out = Vec::new();
        loop {
            match self.ctx.receive_packet() {
                Ok(pkt) => {
                    let keyframe = pkt.frame_type == FrameType::KEY;
                    let frame = pkt.input_frameno;
                    if frame != self.frames_out {
                        return Err(Av1Error::Encoder(format!(
                            "packet for frame {frame} out of order (expected {})",
                            self.frames_out
                        )));
                    }
                    if keyframe != frame.is_multiple_of(self.keyint) {
                        return Err(Av1Error::Encoder(format!(
                            "keyframe placement violated at frame {frame} (keyframe={keyframe}, keyint={})",
                            self.keyint
                        )));
                    }
                    let (data, seq) = split_temporal_unit(&pkt.data)?;
                    if keyframe {
                        let seq = seq.ok_or_else(|| {
                            Av1Error::Bitstream(format!("keyframe {frame} without sequence header"))
                        })?;
                        match self.seq_header.get() {
                            Some(prev) if *prev != seq => {
                                return Err(Av1Error::Bitstream("sequence header changed mid-stream".into()));
                            }
                            Some(_) => {}
                            None => {
                                let _ = self.seq_header.set(seq);
                            }
                        }
                    }
                    self.frames_out += 1;
                    out.push(Av1Packet {
                        data,
                        frame,
                        keyframe,
                    });
                }
                Err(EncoderStatus::Encoded) => continue,
                Err(EncoderStatus::NeedMoreData) | Err(EncoderStatus::LimitReached) => break,
                Err(e) => return Err(status_err(e)),
            }
        }
        Ok(out)
    }

    /// The sequence header OBU as written in the bitstream. Taken from the first keyframe
    /// packet; if none has been produced yet, obtained once by encoding a single blank
    /// frame with a throwaway rav1e context of identical configuration.
    pub fn sequence_header_obu(&self) -> Result<Vec<u8>, Av1Error> {
        if let Some(s) = self.seq_header.get() {
            return Ok(s.clone());
        }
        let probed = probe_sequence_header(&self.enc_cfg)?;
        // Another caller may have set it meanwhile; the value is identical either way.
        Ok(self.seq_header.get_or_init(|| probed).clone())
    }

    /// AV1CodecConfigurationRecord (the av1C box payload), fallible form.
    pub fn try_av1c(&self) -> Result<Vec<u8>, Av1Error> {
        let obu = self.sequence_header_obu()?;
        let info = parse_sequence_header_obu(&obu)?;
        let fixed = self.ctx.container_sequence_header();
        if fixed.len() != 4 {
            return Err(Av1Error::Bitstream(format!(
                "rav1e container_sequence_header() returned {} bytes, expected 4",
                fixed.len()
            )));
        }
        let mut rec = Vec::with_capacity(4 + obu.len());
        rec.push(0x81); // marker=1, version=1
        rec.push((info.profile << 5) | (info.level & 0x1f));
        rec.push(
            (u8::from(info.tier) << 7)
                | (u8::from(info.high_bitdepth) << 6)
                | (u8::from(info.twelve_bit) << 5)
                | (u8::from(info.mono) << 4)
                | (u8::from(info.subsampling_x) << 3)
                | (u8::from(info.subsampling_y) << 2)
                | (info.chroma_sample_position & 0x3),
        );
        rec.push(0); // reserved(3)=0, initial_presentation_delay_present=0, reserved(4)=0
        // Sanity: rav1e's 4 fixed bytes must agree except for the level (and csp) it hard-codes.
        let mask: [u8; 4] = [0xff, 0xe0, 0xfc, 0xff];
        let agree = fixed
            .iter()
            .zip(rec.iter())
            .zip(mask.iter())
            .all(|((a, b), m)| a & m == b & m);
        if !agree {
            return Err(Av1Error::Bitstream(format!(
                "av1C fixed bytes {:02x?} disagree with sequence header {:02x?}",
                fixed,
                rec.get(..4).unwrap_or_default()
            )));
        }
        rec.extend_from_slice(&obu);
        Ok(rec)
    }

    /// The av1C box payload: 4 fixed bytes + the sequence header OBU as configOBUs.
    /// Falls back to the 4 fixed bytes alone (valid, configOBUs empty) only if the sequence
    /// header cannot be obtained, which does not happen with a working rav1e; use
    /// [`Self::try_av1c`] to see the error instead.
    pub fn av1c(&self) -> Vec<u8> {
        match self.try_av1c() {
            Ok(v) => v,
            Err(_) => {
                let mut fixed = self.ctx.container_sequence_header();
                if let (Some(b), Some(level)) = (fixed.get_mut(1), self.enc_cfg.level_idx) {
                    *b = (*b & 0xe0) | (level & 0x1f);
                }
                fixed
            }
        }
    }

    /// HLS/DASH CODECS value `av01.P.LLT.DD` from the level/tier/depth actually signalled.
    pub fn codecs(&self) -> String {
        match self
            .sequence_header_obu()
            .and_then(|o| parse_sequence_header_obu(&o))
        {
            Ok(info) => codecs_string(&info),
            Err(_) => format!("av01.0.{:02}M.08", self.enc_cfg.level_idx.unwrap_or(31)),
        }
    }
}

fn codecs_string(info: &SeqInfo) -> String {
    let depth = if info.twelve_bit {
        12
    } else if info.high_bitdepth {
        10
    } else {
        8
    };
    format!(
        "av01.{}.{:02}{}.{:02}",
        info.profile,
        info.level,
        if info.tier { 'H' } else { 'M' },
        depth
    )
}

fn probe_sequence_header(enc: &EncoderConfig) -> Result<Vec<u8>, Av1Error> {
    let cfg = Config::new().with_encoder_config(enc.clone()).with_threads(1);
    let mut ctx: Context<u8> = cfg.new_context().map_err(|e| Av1Error::Config(e.to_string()))?;
    let frame = ctx.new_frame();
    ctx.send_frame(frame).map_err(status_err)?;
    ctx.send_frame(None::<Arc<Frame<u8>>>).map_err(status_err)?;
    loop {
        match ctx.receive_packet() {
            Ok(pkt) => {
                let (_, seq) = split_temporal_unit(&pkt.data)?;
                return seq
                    .ok_or_else(|| Av1Error::Bitstream("probe keyframe without sequence header".into()));
            }
            Err(EncoderStatus::Encoded) | Err(EncoderStatus::NeedMoreData) => continue,
            Err(e) => return Err(status_err(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// OBU handling
// ---------------------------------------------------------------------------------------

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_PADDING: u8 = 15;

fn read_leb128(data: &[u8], mut pos: usize) -> Result<(u64, usize), Av1Error> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let b = *data
            .get(pos)
            .ok_or_else(|| Av1Error::Bitstream("truncated leb128".into()))?;
        pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, pos));
        }
    }
    Err(Av1Error::Bitstream("leb128 too long".into()))
}

/// Split a temporal unit into (TU without temporal delimiter / padding OBUs, the first
/// sequence header OBU if any). Requires obu_has_size_field on every OBU (rav1e sets it).
pub fn split_temporal_unit(tu: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), Av1Error> {
    let mut out = Vec::with_capacity(tu.len());
    let mut seq = None;
    let mut pos = 0usize;
    while pos < tu.len() {
        let start = pos;
        let hdr = *tu
            .get(pos)
            .ok_or_else(|| Av1Error::Bitstream("truncated OBU".into()))?;
        if hdr & 0x80 != 0 {
            return Err(Av1Error::Bitstream("OBU forbidden bit set".into()));
        }
        let obu_type = (hdr >> 3) & 0x0f;
        let has_ext = hdr & 0x04 != 0;
        let has_size = hdr & 0x02 != 0;
        if !has_size {
            return Err(Av1Error::Bitstream("OBU without size field".into()));
        }
        pos += 1 + usize::from(has_ext);
        let (size, p) = read_leb128(tu, pos)?;
        let size = usize::try_from(size).map_err(|_| Av1Error::Bitstream("OBU too large".into()))?;
        let end = p
            .checked_add(size)
            .filter(|&e| e <= tu.len())
            .ok_or_else(|| Av1Error::Bitstream("OBU size exceeds temporal unit".into()))?;
        let obu = tu
            .get(start..end)
            .ok_or_else(|| Av1Error::Bitstream("OBU bounds".into()))?;
        match obu_type {
            OBU_TEMPORAL_DELIMITER | OBU_PADDING => {}
            t => {
                if t == OBU_SEQUENCE_HEADER && seq.is_none() {
                    seq = Some(obu.to_vec());
                }
                out.extend_from_slice(obu);
            }
        }
        pos = end;
    }
    Ok((out, seq))
}

/// Fields of a sequence header needed for av1C and the CODECS string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqInfo {
    pub profile: u8,
    pub level: u8,
    pub tier: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub mono: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
    pub color_description: Option<(u8, u8, u8)>,
    pub full_range: bool,
    pub max_width: u32,
    pub max_height: u32,
}

/// Parse a complete sequence header OBU (with OBU header and size field).
pub fn parse_sequence_header_obu(obu: &[u8]) -> Result<SeqInfo, Av1Error> {
    let hdr = *obu
        .first()
        .ok_or_else(|| Av1Error::Bitstream("empty OBU".into()))?;
    if (hdr >> 3) & 0x0f != OBU_SEQUENCE_HEADER {
        return Err(Av1Error::Bitstream("not a sequence header OBU".into()));
    }
    let mut pos = 1 + usize::from(hdr & 0x04 != 0);
    let payload = if hdr & 0x02 != 0 {
        let (size, p) = read_leb128(obu, pos)?;
        pos = p;
        let size = usize::try_from(size).map_err(|_| Av1Error::Bitstream("size".into()))?;
        obu.get(pos..pos.saturating_add(size))
            .ok_or_else(|| Av1Error::Bitstream("truncated sequence header OBU".into()))?
    } else {
        obu.get(pos..).unwrap_or_default()
    };
    let mut r = BitReader::new(payload);

    let profile = r.bits(3)? as u8;
    let _still = r.bit()?;
    let reduced = r.bit()?;
    let (level, tier);
    if reduced {
        level = r.bits(5)? as u8;
        tier = false;
    } else {
        let timing_info_present = r.bit()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_len = 0u32;
        if timing_info_present {
            r.bits(32)?; // num_units_in_display_tick
            r.bits(32)?; // time_scale
            if r.bit()? {
                r.exp_golomb()?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info_present = r.bit()?;
            if decoder_model_info_present {
                buffer_delay_len = r.bits(5)? + 1;
                r.bits(32)?; // num_units_in_decoding_tick
                r.bits(5)?; // buffer_removal_time_length_minus_1
                r.bits(5)?; // frame_presentation_time_length_minus_1
            }
        }
        let initial_display_delay_present = r.bit()?;
        let op_count = r.bits(5)? + 1;
        let mut first: Option<(u8, bool)> = None;
        for _ in 0..op_count {
            r.bits(12)?; // operating_point_idc
            let l = r.bits(5)? as u8;
            let t = if l > 7 { r.bit()? } else { false };
            if decoder_model_info_present && r.bit()? {
                r.bits(buffer_delay_len)?;
                r.bits(buffer_delay_len)?;
                r.bit()?;
            }
            if initial_display_delay_present && r.bit()? {
                r.bits(4)?;
            }
            if first.is_none() {
                first = Some((l, t));
            }
        }
        let (l, t) = first.ok_or_else(|| Av1Error::Bitstream("no operating point".into()))?;
        level = l;
        tier = t;
    }
    let wbits = r.bits(4)? + 1;
    let hbits = r.bits(4)? + 1;
    let max_width = r.bits(wbits)?.saturating_add(1);
    let max_height = r.bits(hbits)?.saturating_add(1);
    if !reduced && r.bit()? {
        // frame_id_numbers_present_flag
        r.bits(4)?;
        r.bits(3)?;
    }
    r.bit()?; // use_128x128_superblock
    r.bit()?; // enable_filter_intra
    r.bit()?; // enable_intra_edge_filter
    if !reduced {
        r.bit()?; // interintra
        r.bit()?; // masked compound
        r.bit()?; // warped motion
        r.bit()?; // dual filter
        let order_hint = r.bit()?;
        if order_hint {
            r.bit()?; // jnt_comp
            r.bit()?; // ref_frame_mvs
        }
        let force_sct = if r.bit()? { 2 } else { u32::from(r.bit()?) };
        if force_sct > 0 && !r.bit()? {
            r.bit()?; // seq_force_integer_mv
        }
        if order_hint {
            r.bits(3)?;
        }
    }
    r.bit()?; // superres
    r.bit()?; // cdef
    r.bit()?; // restoration
    // color_config
    let high_bitdepth = r.bit()?;
    let twelve_bit = if profile == 2 && high_bitdepth {
        r.bit()?
    } else {
        false
    };
    let mono = if profile == 1 { false } else { r.bit()? };
    let color_description = if r.bit()? {
        Some((r.bits(8)? as u8, r.bits(8)? as u8, r.bits(8)? as u8))
    } else {
        None
    };
    let (full_range, sx, sy, csp);
    if mono {
        full_range = r.bit()?;
        sx = true;
        sy = true;
        csp = 0;
    } else if color_description == Some((1, 13, 0)) {
        full_range = true;
        sx = false;
        sy = false;
        csp = 0;
    } else {
        full_range = r.bit()?;
        if profile == 0 {
            sx = true;
            sy = true;
        } else if profile == 1 {
            sx = false;
            sy = false;
        } else if twelve_bit {
            sx = r.bit()?;
            sy = if sx { r.bit()? } else { false };
        } else {
            sx = true;
            sy = false;
        }
        csp = if sx && sy { r.bits(2)? as u8 } else { 0 };
    }
    Ok(SeqInfo {
        profile,
        level,
        tier,
        high_bitdepth,
        twelve_bit,
        mono,
        subsampling_x: sx,
        subsampling_y: sy,
        chroma_sample_position: csp,
        color_description,
        full_range,
        max_width,
        max_height,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn level_selection() {
        let s = Av1Settings::default();
        assert_eq!(select_level(320, 180, (25, 1), &s), 0);
        assert_eq!(select_level(960, 540, (30, 1), &s), 4);
        assert_eq!(select_level(1280, 720, (30, 1), &s), 5);
        assert_eq!(select_level(1920, 1080, (30, 1), &s), 8);
        assert_eq!(select_level(1920, 1080, (60, 1), &s), 9);
        assert_eq!(select_level(3840, 2160, (30, 1), &s), 12);
    }

    #[test]
    fn the_memory_estimate_follows_the_measured_peaks() {
        // Peak RSS of one encoder at speed 10 (the doc comment of `memory_estimate_mib`).
        for (width, height, measured) in [(640, 360, 100), (1280, 720, 313), (1920, 1080, 629)] {
            let estimate = memory_estimate_mib(width, height, 10);
            assert!(
                estimate.abs_diff(measured) * 10 <= measured,
                "{width}x{height}: {estimate} MiB estimated, {measured} measured"
            );
        }
        // The slow presets look further ahead.
        assert!(memory_estimate_mib(1920, 1080, 0) > 2 * memory_estimate_mib(1920, 1080, 10));
    }

    #[test]
    fn encoder_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Av1Encoder>();
    }

    #[test]
    fn rejects_short_planes() {
        let mut e = Av1Encoder::new(64, 64, (25, 1), 25, &Av1Settings::default()).unwrap();
        let y = vec![0u8; 64 * 63];
        let c = vec![0u8; 32 * 32];
        assert!(matches!(e.send(&y, 64, &c, 32, &c, 32), Err(Av1Error::Input(_))));
    }
}
