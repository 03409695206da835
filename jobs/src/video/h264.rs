//! H.264 (AVC) encoding over the `openh264` crate 0.9 (bundled OpenH264 source built with
//! `cc`), shaped for segmented (HLS/CMAF) delivery as a fallback rendition next to AV1.
//!
//! * 8-bit 4:2:0, Constrained Baseline profile (profile_idc 66, constraint_set0/1 set, CAVLC,
//!   progressive, P frames only), limited range, BT.709 primaries/transfer/matrix signalled in
//!   the SPS VUI. The level is chosen by OpenH264 from size, frame rate and bitrate.
//! * IDRs exactly at input frames `0, keyint, 2*keyint, ...` and nowhere else: scene-change
//!   detection is off, the encoder's intra period is `keyint` (a safety net; OpenH264 counts it
//!   from the last IDR) and every multiple is forced with `force_intra_frame` (which also
//!   resets OpenH264's period counter). Every frame is checked against this rule; a violation
//!   is an error, not a silent misalignment. Frame skipping is off, so every input frame yields
//!   exactly one packet, immediately (OpenH264 has no lookahead and no B frames).
//! * [`H264Packet::data`] is one access unit in AVC sample form (ISO/IEC 14496-15): NAL units
//!   each prefixed with a 4-byte big-endian length, Annex B start codes removed, and SPS, PPS,
//!   AUD and filler NAL units removed (they belong in avcC, resp. are not allowed in samples).
//! * [`H264Encoder::avcc`] is built from the SPS/PPS OpenH264 actually writes (taken from the
//!   first IDR; every later IDR must repeat them byte for byte). Before the first frame it is
//!   obtained by encoding one blank frame with a throwaway encoder of identical configuration.
//!
//! `H264Settings::threads` is passed to OpenH264, but the `openh264` crate always configures a
//! single slice per picture and OpenH264 only parallelises across slices, so it clamps to one
//! thread: the encode runs on the calling thread whatever the setting.

use std::borrow::Cow;
use std::sync::OnceLock;

use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode,
    SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

use veza_av1::{
    bits::{BitReader, BitsError},
    planes::tight_plane,
};

/// Errors from [`H264Encoder`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264Error {
    #[error("invalid H.264 encoder configuration: {0}")]
    Config(String),
    #[error("invalid input frame: {0}")]
    Input(String),
    #[error("OpenH264 encoder failure: {0}")]
    Encoder(String),
    #[error("malformed H.264 bitstream: {0}")]
    Bitstream(String),
    #[error("encoder already finished")]
    Finished,
    #[error("encoder unusable after an earlier encoder failure")]
    Failed,
}

impl From<BitsError> for H264Error {
    fn from(err: BitsError) -> Self {
        Self::Bitstream(format!("SPS: {err}"))
    }
}

fn enc_err(e: openh264::Error) -> H264Error {
    H264Error::Encoder(e.to_string())
}

/// Encoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Settings {
    /// Target bitrate in kbit/s (OpenH264 bitrate-mode rate control). Must be > 0.
    pub bitrate_kbps: u32,
    /// Worker threads handed to OpenH264 (0 = auto). See the module docs: with the single
    /// slice the `openh264` crate configures, OpenH264 uses one thread regardless.
    pub threads: usize,
}

impl Default for H264Settings {
    fn default() -> Self {
        Self {
            bitrate_kbps: 500,
            threads: 1,
        }
    }
}

/// One encoded access unit (exactly one input frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Packet {
    /// Length-prefixed (4-byte) NAL units, AVCC sample form, no SPS/PPS/AUD.
    pub data: Vec<u8>,
    /// Input frame number within this encoder (0-based).
    pub frame: u64,
    /// True for IDR access units (random access points / sync samples).
    pub keyframe: bool,
}

/// SPS and PPS NAL units (without start codes) as written by OpenH264.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParamSets {
    sps: Vec<u8>,
    pps: Vec<u8>,
}

/// H.264 encoder for 8-bit 4:2:0 frames.
pub struct H264Encoder {
    enc: Encoder,
    config: EncoderConfig,
    width: usize,
    height: usize,
    fps: (u32, u32),
    keyint: u64,
    frames_in: u64,
    finished: bool,
    /// Set once OpenH264 failed mid-encode: it then tears its context down (see `send`).
    failed: bool,
    param_sets: OnceLock<ParamSets>,
}

/// Tight 4:2:0 planes handed to OpenH264 (its `YUVSlices::new` panics on layout mismatch, so
/// the validated planes are wrapped here instead).
struct Planes<'a> {
    w: usize,
    h: usize,
    y: Cow<'a, [u8]>,
    u: Cow<'a, [u8]>,
    v: Cow<'a, [u8]>,
}

impl YUVSource for Planes<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.w, self.h)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.w, self.w / 2, self.w / 2)
    }
    fn y(&self) -> &[u8] {
        &self.y
    }
    fn u(&self) -> &[u8] {
        &self.u
    }
    fn v(&self) -> &[u8] {
        &self.v
    }
}

impl H264Encoder {
    /// Create an encoder. 8-bit 4:2:0 input; an IDR exactly at every multiple of `keyint`
    /// input frames and nowhere else (no scene-change IDRs), so segments align with the AV1
    /// renditions encoded separately.
    ///
    /// Width and height must be even (4:2:0 H.264 can only crop in units of 2), 16..=3840 x
    /// 16..=2160 (or the portrait equivalent, OpenH264's limit).
    pub fn new(
        width: u32,
        height: u32,
        fps: (u32, u32),
        keyint: u64,
        settings: &H264Settings,
    ) -> Result<Self, H264Error> {
        if width < 16 || height < 16 {
            return Err(H264Error::Config(format!(
                "unsupported size {width}x{height} (minimum 16x16)"
            )));
        }
        if width.max(height) > 3840 || width.min(height) > 2160 {
            return Err(H264Error::Config(format!(
                "unsupported size {width}x{height} (OpenH264 maximum 3840x2160 / 2160x3840)"
            )));
        }
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(H264Error::Config(format!(
                "unsupported size {width}x{height}: 4:2:0 H.264 needs even width and height"
            )));
        }
        if fps.0 == 0 || fps.1 == 0 {
            return Err(H264Error::Config(format!(
                "invalid frame rate {}/{}",
                fps.0, fps.1
            )));
        }
        if keyint == 0 {
            return Err(H264Error::Config("keyint must be >= 1".into()));
        }
        let intra_period =
            u32::try_from(keyint).map_err(|_| H264Error::Config(format!("keyint {keyint} too large")))?;
        if settings.bitrate_kbps == 0 {
            return Err(H264Error::Config("bitrate_kbps must be > 0".into()));
        }
        // OpenH264 takes the bitrate as a C int.
        let bitrate_bps = u32::try_from(u64::from(settings.bitrate_kbps) * 1000)
            .ok()
            .filter(|b| i32::try_from(*b).is_ok())
            .ok_or_else(|| H264Error::Config(format!("bitrate {} kbps too large", settings.bitrate_kbps)))?;
        let threads = u16::try_from(settings.threads)
            .map_err(|_| H264Error::Config(format!("{} threads too many", settings.threads)))?;

        #[allow(clippy::cast_precision_loss)]
        let rate = fps.0 as f32 / fps.1 as f32;
        let config = EncoderConfig::new()
            .profile(Profile::Baseline)
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(rate))
            // Every input frame must become a sample: no RC frame skipping.
            .skip_frames(false)
            // IDR placement is ours alone.
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(intra_period))
            .long_term_reference(false)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .vui(VuiConfig::bt709())
            .num_threads(threads);
        let enc = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(enc_err)?;

        Ok(Self {
            enc,
            config,
            width: width as usize,
            height: height as usize,
            fps,
            keyint,
            frames_in: 0,
            finished: false,
            failed: false,
            param_sets: OnceLock::new(),
        })
    }

    /// Encode one frame (Y plane `width x height`, U/V planes `width/2 x height/2`, each with
    /// its stride in bytes) and return its packet (always exactly one).
    pub fn send(
        &mut self,
        y: &[u8],
        y_stride: usize,
        u: &[u8],
        u_stride: usize,
        v: &[u8],
        v_stride: usize,
    ) -> Result<Vec<H264Packet>, H264Error> {
        if self.failed {
            return Err(H264Error::Failed);
        }
        if self.finished {
            return Err(H264Error::Finished);
        }
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w / 2, h / 2);
        let planes = Planes {
            w,
            h,
            y: tight_plane("Y", y, y_stride, w, h).map_err(H264Error::Input)?,
            u: tight_plane("U", u, u_stride, cw, ch).map_err(H264Error::Input)?,
            v: tight_plane("V", v, v_stride, cw, ch).map_err(H264Error::Input)?,
        };

        let frame = self.frames_in;
        let want_idr = frame.is_multiple_of(self.keyint);
        if want_idr && frame > 0 {
            // (Frame 0 is an IDR anyway; before the first encode OpenH264 is not yet
            // initialised and ignores the request.)
            self.enc.force_intra_frame();
        }
        let ts = frame_timestamp_ms(frame, self.fps)?;
        // From here on any error leaves the stream unusable: OpenH264 itself uninitialises
        // its encoder context when a frame fails (e.g. a coded frame larger than its output
        // buffer of ~1.5 bytes/pixel, reachable only with noise-like content at low QP), and a
        // skipped or misplaced frame would break segment alignment.
        self.failed = true;
        let (annexb, frame_type) = {
            let bs = self
                .enc
                .encode_at(&planes, Timestamp::from_millis(ts))
                .map_err(enc_err)?;
            (bs.to_vec(), bs.frame_type())
        };
        self.frames_in += 1;

        let keyframe = match frame_type {
            FrameType::IDR => true,
            FrameType::P | FrameType::I => false,
            other => {
                return Err(H264Error::Encoder(format!(
                    "frame {frame}: unexpected frame type {other:?}"
                )));
            }
        };
        if keyframe != want_idr {
            return Err(H264Error::Encoder(format!(
                "IDR placement violated at frame {frame} (idr={keyframe}, type {frame_type:?}, keyint={})",
                self.keyint
            )));
        }
        let au = annexb_to_sample(&annexb)?;
        if au.has_idr_slice != keyframe || !au.has_slice {
            return Err(H264Error::Bitstream(format!(
                "frame {frame}: slice NAL types disagree with frame type {frame_type:?}"
            )));
        }
        if keyframe {
            let ps = match (au.sps, au.pps) {
                (Some(sps), Some(pps)) => ParamSets { sps, pps },
                _ => {
                    return Err(H264Error::Bitstream(format!("IDR frame {frame} without SPS/PPS")));
                }
            };
            match self.param_sets.get() {
                Some(prev) if *prev != ps => {
                    return Err(H264Error::Bitstream("SPS/PPS changed mid-stream".into()));
                }
                Some(_) => {}
                None => {
                    let _ = self.param_sets.set(ps);
                }
            }
        }
        self.failed = false;
        Ok(vec![H264Packet {
            data: au.data,
            frame,
            keyframe,
        }])
    }

    /// Flush. OpenH264 holds no frames back, so this only closes the encoder: further `send`s
    /// fail, and the returned list is always empty (an error if an earlier `send` failed
    /// inside OpenH264).
    pub fn finish(&mut self) -> Result<Vec<H264Packet>, H264Error> {
        self.finished = true;
        if self.failed {
            return Err(H264Error::Failed);
        }
        Ok(Vec::new())
    }

    fn param_sets(&self) -> Result<&ParamSets, H264Error> {
        if let Some(ps) = self.param_sets.get() {
            return Ok(ps);
        }
        let probed = probe_param_sets(self.config, self.width, self.height)?;
        // Another caller may have set it meanwhile; the value is identical either way.
        Ok(self.param_sets.get_or_init(|| probed))
    }

    /// AVCDecoderConfigurationRecord bytes (avcC payload) from the SPS/PPS the encoder produced.
    pub fn avcc(&self) -> Result<Vec<u8>, H264Error> {
        let ps = self.param_sets()?;
        build_avcc(&ps.sps, &ps.pps)
    }

    /// HLS CODECS, e.g. "avc1.42c01e" (profile_idc, constraint flags, level_idc from the SPS
    /// actually written).
    pub fn codecs(&self) -> Result<String, H264Error> {
        let info = parse_sps(&self.param_sets()?.sps)?;
        Ok(codecs_string(&info))
    }
}

/// `avc1.PPCCLL` from an SPS.
pub fn codecs_string(info: &SpsInfo) -> String {
    format!(
        "avc1.{:02x}{:02x}{:02x}",
        info.profile_idc, info.constraint_flags, info.level_idc
    )
}

/// Presentation time of `frame` in milliseconds (OpenH264's timestamp unit).
fn frame_timestamp_ms(frame: u64, fps: (u32, u32)) -> Result<u64, H264Error> {
    u128::from(frame)
        .checked_mul(1000 * u128::from(fps.1))
        .map(|n| n / u128::from(fps.0.max(1)))
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| H264Error::Input(format!("timestamp of frame {frame} overflows")))
}

/// Encode one mid-grey frame with a fresh encoder of the same configuration to learn the
/// SPS/PPS (OpenH264 only writes them with the first IDR).
fn probe_param_sets(config: EncoderConfig, width: usize, height: usize) -> Result<ParamSets, H264Error> {
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).map_err(enc_err)?;
    let (cw, ch) = (width / 2, height / 2);
    let y = vec![128u8; width * height];
    let c = vec![128u8; cw * ch];
    let planes = Planes {
        w: width,
        h: height,
        y: Cow::Borrowed(&y),
        u: Cow::Borrowed(&c),
        v: Cow::Borrowed(&c),
    };
    let annexb = enc.encode_at(&planes, Timestamp::ZERO).map_err(enc_err)?.to_vec();
    let au = annexb_to_sample(&annexb)?;
    match (au.sps, au.pps) {
        (Some(sps), Some(pps)) => Ok(ParamSets { sps, pps }),
        _ => Err(H264Error::Bitstream("probe IDR frame without SPS/PPS".into())),
    }
}

// ---------------------------------------------------------------------------------------
// NAL unit handling
// ---------------------------------------------------------------------------------------

const NAL_SLICE: u8 = 1;
const NAL_IDR_SLICE: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;
const NAL_PREFIX: u8 = 14;
const NAL_SUBSET_SPS: u8 = 15;
const NAL_SLICE_EXT: u8 = 20;

/// Split an Annex B byte stream into its NAL units (start codes and trailing zero bytes
/// removed). Bytes before the first start code are an error.
pub fn split_annexb(data: &[u8]) -> Result<Vec<&[u8]>, H264Error> {
    // Positions just after each 00 00 01.
    let mut starts = Vec::new();
    let mut zeros = 0usize;
    for (i, &b) in data.iter().enumerate() {
        if b == 1 && zeros >= 2 {
            starts.push(i + 1);
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    let first = *starts
        .first()
        .ok_or_else(|| H264Error::Bitstream("no Annex B start code".into()))?;
    if data
        .get(..first.saturating_sub(3))
        .is_some_and(|lead| lead.iter().any(|&b| b != 0))
    {
        return Err(H264Error::Bitstream("garbage before first start code".into()));
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&n| n.saturating_sub(3));
        let mut nal = data
            .get(s..end)
            .ok_or_else(|| H264Error::Bitstream("NAL bounds".into()))?;
        // trailing_zero_8bits / the leading zero of a 4-byte start code.
        while let Some((&0, rest)) = nal.split_last() {
            nal = rest;
        }
        if nal.is_empty() {
            return Err(H264Error::Bitstream("empty NAL unit".into()));
        }
        nals.push(nal);
    }
    Ok(nals)
}

struct AccessUnit {
    data: Vec<u8>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    has_slice: bool,
    has_idr_slice: bool,
}

/// Convert one Annex B access unit to AVC sample form (4-byte lengths), pulling out SPS/PPS
/// and dropping AUD/filler NAL units.
fn annexb_to_sample(annexb: &[u8]) -> Result<AccessUnit, H264Error> {
    let mut au = AccessUnit {
        data: Vec::with_capacity(annexb.len()),
        sps: None,
        pps: None,
        has_slice: false,
        has_idr_slice: false,
    };
    for nal in split_annexb(annexb)? {
        let hdr = *nal
            .first()
            .ok_or_else(|| H264Error::Bitstream("empty NAL unit".into()))?;
        if hdr & 0x80 != 0 {
            return Err(H264Error::Bitstream("NAL forbidden_zero_bit set".into()));
        }
        match hdr & 0x1f {
            NAL_SPS => {
                if au.sps.replace(nal.to_vec()).is_some() {
                    return Err(H264Error::Bitstream("several SPS in one access unit".into()));
                }
            }
            NAL_PPS => {
                if au.pps.replace(nal.to_vec()).is_some() {
                    return Err(H264Error::Bitstream("several PPS in one access unit".into()));
                }
            }
            NAL_AUD | NAL_FILLER => {}
            NAL_PREFIX | NAL_SUBSET_SPS | NAL_SLICE_EXT => {
                return Err(H264Error::Bitstream(format!(
                    "unexpected SVC NAL unit type {}",
                    hdr & 0x1f
                )));
            }
            t => {
                if t == NAL_SLICE || t == NAL_IDR_SLICE {
                    au.has_slice = true;
                    au.has_idr_slice |= t == NAL_IDR_SLICE;
                }
                let len = u32::try_from(nal.len())
                    .map_err(|_| H264Error::Bitstream("NAL unit larger than 4 GiB".into()))?;
                au.data.extend_from_slice(&len.to_be_bytes());
                au.data.extend_from_slice(nal);
            }
        }
    }
    Ok(au)
}

/// Build an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) with one SPS and one
/// PPS, lengthSizeMinusOne = 3. For High-family profiles the chroma/bit-depth extension is
/// appended as the spec requires.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, H264Error> {
    let info = parse_sps(sps)?;
    if pps.first().map(|h| h & 0x1f) != Some(NAL_PPS) {
        return Err(H264Error::Bitstream("not a PPS NAL unit".into()));
    }
    let sps_len =
        u16::try_from(sps.len()).map_err(|_| H264Error::Bitstream("SPS longer than 65535 bytes".into()))?;
    let pps_len =
        u16::try_from(pps.len()).map_err(|_| H264Error::Bitstream("PPS longer than 65535 bytes".into()))?;
    let mut rec = Vec::with_capacity(11 + sps.len() + pps.len() + 4);
    rec.push(1); // configurationVersion
    rec.push(info.profile_idc);
    rec.push(info.constraint_flags);
    rec.push(info.level_idc);
    rec.push(0xfc | 3); // reserved(6) + lengthSizeMinusOne = 3
    rec.push(0xe0 | 1); // reserved(3) + numOfSequenceParameterSets = 1
    rec.extend_from_slice(&sps_len.to_be_bytes());
    rec.extend_from_slice(sps);
    rec.push(1); // numOfPictureParameterSets
    rec.extend_from_slice(&pps_len.to_be_bytes());
    rec.extend_from_slice(pps);
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        let cf = u8::try_from(info.chroma_format_idc).unwrap_or(1) & 0x3;
        let bl = u8::try_from(info.bit_depth_luma.saturating_sub(8)).unwrap_or(0) & 0x7;
        let bc = u8::try_from(info.bit_depth_chroma.saturating_sub(8)).unwrap_or(0) & 0x7;
        rec.push(0xfc | cf);
        rec.push(0xf8 | bl);
        rec.push(0xf8 | bc);
        rec.push(0); // numOfSequenceParameterSetExt
    }
    Ok(rec)
}

/// Fields of an SPS needed for avcC, the CODECS string and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    /// constraint_set0..5 flags + reserved_zero_2bits, the byte between profile and level.
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub bit_depth_luma: u32,
    pub bit_depth_chroma: u32,
    pub max_num_ref_frames: u32,
    pub frame_mbs_only: bool,
    /// Displayed size after frame cropping.
    pub width: u32,
    pub height: u32,
    /// (colour_primaries, transfer_characteristics, matrix_coefficients) from the VUI.
    pub color_description: Option<(u8, u8, u8)>,
    pub full_range: bool,
}

/// Remove emulation_prevention_three_bytes (00 00 03 -> 00 00).
fn nal_to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Result<(), H264Error> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.signed_exp_golomb()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parse a complete SPS NAL unit (NAL header included, no start code).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, H264Error> {
    let hdr = *nal
        .first()
        .ok_or_else(|| H264Error::Bitstream("empty SPS".into()))?;
    if hdr & 0x1f != NAL_SPS {
        return Err(H264Error::Bitstream("not an SPS NAL unit".into()));
    }
    let rbsp = nal_to_rbsp(nal.get(1..).unwrap_or_default());
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.exp_golomb()?; // seq_parameter_set_id
    let (mut chroma_format_idc, mut bit_depth_luma, mut bit_depth_chroma) = (1, 8, 8);
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.exp_golomb()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        bit_depth_luma = r.exp_golomb()?.saturating_add(8);
        bit_depth_chroma = r.exp_golomb()?.saturating_add(8);
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            // seq_scaling_matrix_present_flag
            let n = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..n {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.exp_golomb()?; // log2_max_frame_num_minus4
    match r.exp_golomb()? {
        0 => {
            r.exp_golomb()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.signed_exp_golomb()?; // offset_for_non_ref_pic
            r.signed_exp_golomb()?; // offset_for_top_to_bottom_field
            let n = r.exp_golomb()?;
            if n > 255 {
                return Err(H264Error::Bitstream("bad POC cycle length".into()));
            }
            for _ in 0..n {
                r.signed_exp_golomb()?;
            }
        }
        _ => {}
    }
    let max_num_ref_frames = r.exp_golomb()?;
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = u64::from(r.exp_golomb()?) + 1;
    let h_map = u64::from(r.exp_golomb()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = r.exp_golomb()?.into();
        cr = r.exp_golomb()?.into();
        ct = r.exp_golomb()?.into();
        cb = r.exp_golomb()?.into();
    }
    let mut color_description = None;
    let mut full_range = false;
    if r.bit()? {
        // vui_parameters_present_flag
        if r.bit()? && r.bits(8)? == 255 {
            // aspect_ratio_info_present_flag, aspect_ratio_idc == Extended_SAR
            r.bits(16)?;
            r.bits(16)?;
        }
        if r.bit()? {
            r.bit()?; // overscan_appropriate_flag
        }
        if r.bit()? {
            // video_signal_type_present_flag
            r.bits(3)?; // video_format
            full_range = r.bit()?;
            if r.bit()? {
                color_description = Some((r.bits(8)? as u8, r.bits(8)? as u8, r.bits(8)? as u8));
            }
        }
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_x, crop_y) = if chroma_array_type == 0 {
        (1, 2 - u64::from(frame_mbs_only))
    } else {
        (sub_w, sub_h * (2 - u64::from(frame_mbs_only)))
    };
    let full_w = w_mbs * 16;
    let full_h = h_map * 16 * (2 - u64::from(frame_mbs_only));
    let width = full_w
        .checked_sub(crop_x * (cl + cr))
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| H264Error::Bitstream("bad horizontal cropping".into()))?;
    let height = full_h
        .checked_sub(crop_y * (ct + cb))
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| H264Error::Bitstream("bad vertical cropping".into()))?;
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        max_num_ref_frames,
        frame_mbs_only,
        width,
        height,
        color_description,
        full_range,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn encoder_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<H264Encoder>();
    }

    #[test]
    fn annexb_split() {
        let s = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let n = split_annexb(&s).unwrap();
        assert_eq!(n, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4][..]]);
        assert!(split_annexb(&[1, 2, 3]).is_err());
        assert!(split_annexb(&[9, 0, 0, 1, 0x65]).is_err());
    }

    #[test]
    fn rbsp_unescape() {
        assert_eq!(nal_to_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0]), vec![0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn parses_known_sps() {
        // mp4-atom's test SPS: High 4:2:0 8-bit, level 1.3, 320x240.
        let sps = [
            0x67, 0x64, 0x00, 0x0D, 0xAC, 0xD9, 0x41, 0x41, 0xFA, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
            0x00, 0x03, 0x03, 0x20, 0xF1, 0x42, 0x99, 0x60,
        ];
        let i = parse_sps(&sps).unwrap();
        assert_eq!((i.profile_idc, i.level_idc), (100, 13));
        assert_eq!((i.width, i.height), (320, 240));
        assert_eq!(codecs_string(&i), "avc1.64000d");
    }

    #[test]
    fn rejects_bad_config_and_input() {
        let s = H264Settings::default();
        assert!(H264Encoder::new(8, 8, (25, 1), 25, &s).is_err());
        assert!(H264Encoder::new(321, 180, (25, 1), 25, &s).is_err());
        assert!(H264Encoder::new(320, 180, (25, 1), 0, &s).is_err());
        assert!(H264Encoder::new(320, 180, (0, 1), 25, &s).is_err());
        assert!(H264Encoder::new(4096, 2160, (25, 1), 25, &s).is_err());
        let zero = H264Settings {
            bitrate_kbps: 0,
            ..s.clone()
        };
        assert!(H264Encoder::new(320, 180, (25, 1), 25, &zero).is_err());
        let mut e = H264Encoder::new(64, 64, (25, 1), 25, &s).unwrap();
        let y = vec![0u8; 64 * 63];
        let c = vec![0u8; 32 * 32];
        assert!(matches!(e.send(&y, 64, &c, 32, &c, 32), Err(H264Error::Input(_))));
        assert!(matches!(e.send(&c, 16, &c, 32, &c, 32), Err(H264Error::Input(_))));
    }

    #[test]
    fn timestamps() {
        assert_eq!(frame_timestamp_ms(25, (25, 1)).unwrap(), 1000);
        assert_eq!(frame_timestamp_ms(3, (30000, 1001)).unwrap(), 100);
        assert!(frame_timestamp_ms(u64::MAX, (1, 1000)).is_err());
    }
}
