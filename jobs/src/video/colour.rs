//! Colour: every rendition is what players assume of 8-bit video — limited-range BT.709 with
//! BT.709 primaries, SDR. Sources come as recorded: full range (phones' `yuvj`), BT.601 (SD
//! cameras, old files), 10-bit, BT.2020 and HDR (PQ, HLG).
//!
//! Two paths. BT.601 or BT.709 SDR samples only need their matrix and range remapped, which is
//! linear in Y'CbCr (grey stays grey, so Y' takes a little of Cb/Cr and chroma mixes only
//! chroma). Anything else — BT.2020 primaries, PQ, HLG — goes through light: Y'CbCr to R'G'B',
//! the transfer's EOTF to display light in nits, the BT.2390 EETF (a Hermite knee in the PQ
//! domain, applied to max(R,G,B) so hues keep their ratios) from the source's peak to the SDR
//! reference white, the BT.2020 to BT.709 primaries matrix, the inverse BT.1886 (gamma 2.4)
//! curve and the BT.709 matrix. Chroma is the mean of its 2x2 block's R'G'B'.
//!
//! BT.601 and BT.709 primaries differ by a few percent in hue; like most players, the matrix
//! path does not convert them.

use serde::{Deserialize, Serialize};

use super::av::{Hdr, VideoStreamFacts};

/// The Y'CbCr matrix of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Matrix {
    /// BT.709.
    #[default]
    Bt709,
    /// BT.601 (SMPTE 170M, BT.470BG).
    Bt601,
    /// BT.2020 non-constant luminance.
    Bt2020,
}

impl Matrix {
    /// (Kr, Kb).
    fn coefficients(self) -> (f32, f32) {
        match self {
            Self::Bt709 => (0.2126, 0.0722),
            Self::Bt601 => (0.299, 0.114),
            Self::Bt2020 => (0.2627, 0.0593),
        }
    }
}

/// The transfer function of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transfer {
    /// Standard dynamic range (BT.709, BT.601, sRGB, BT.2020's SDR curves).
    #[default]
    Sdr,
    /// SMPTE ST 2084 (HDR10).
    Pq,
    /// ARIB STD-B67 hybrid log-gamma.
    Hlg,
}

/// What the plan records of a source's colour (the same for every chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourceColour {
    /// Its Y'CbCr matrix.
    pub matrix: Matrix,
    /// Its transfer.
    pub transfer: Transfer,
    /// BT.2020 primaries (else BT.709's, or BT.601's, which are treated as BT.709's).
    pub wide_gamut: bool,
}

impl SourceColour {
    /// The colour of a probed stream. An unlabelled matrix is BT.601 below 720 lines and
    /// BT.709 from there (what players assume); an HDR transfer implies BT.2020.
    pub fn of(video: &VideoStreamFacts) -> Self {
        let transfer = match video.hdr {
            Some(Hdr::Pq) => Transfer::Pq,
            Some(Hdr::Hlg) => Transfer::Hlg,
            None => Transfer::Sdr,
        };
        let matrix = match video.matrix_coefficients.as_deref() {
            Some("smpte170m" | "bt470bg" | "fcc") => Matrix::Bt601,
            Some("bt2020nc" | "bt2020c") => Matrix::Bt2020,
            Some("bt709") => Matrix::Bt709,
            _ if transfer != Transfer::Sdr => Matrix::Bt2020,
            _ if video.height.min(video.width) < 720 => Matrix::Bt601,
            _ => Matrix::Bt709,
        };
        let wide_gamut = video.color_primaries.as_deref() == Some("bt2020") || transfer != Transfer::Sdr;
        Self {
            matrix,
            transfer,
            wide_gamut,
        }
    }

    /// Whether samples of this colour only need their matrix and range remapped.
    fn is_matrix_only(self) -> bool {
        self.transfer == Transfer::Sdr && !self.wide_gamut && self.matrix != Matrix::Bt2020
    }
}

/// Planes of a decoded 4:2:0 frame: 8-bit samples, or 10-bit in little-endian pairs of bytes.
#[derive(Debug, Clone, Copy)]
pub struct Planes<'a> {
    /// Luma rows, `strides.0` bytes apart.
    pub y: &'a [u8],
    /// Cb rows, `strides.1` bytes apart.
    pub u: &'a [u8],
    /// Cr rows, `strides.2` bytes apart.
    pub v: &'a [u8],
    /// Bytes per row of luma, Cb and Cr.
    pub strides: (usize, usize, usize),
    /// Luma width and height.
    pub size: (u32, u32),
    /// 8 or 10.
    pub bits: u8,
    /// Full range (else limited).
    pub full_range: bool,
}

impl Planes<'_> {
    /// Sample `x` of row `row` of `plane`, in 8-bit units (a 10-bit sample is a quarter).
    /// A row shorter than the stride says reads as zero (the decoder's always are whole).
    fn sample(&self, plane: &[u8], stride: usize, x: usize, row: usize) -> f32 {
        if self.bits > 8 {
            let at = row * stride + 2 * x;
            match (plane.get(at), plane.get(at + 1)) {
                (Some(&lo), Some(&hi)) => f32::from(u16::from_le_bytes([lo, hi])) / 4.0,
                _ => 0.0,
            }
        } else {
            plane.get(row * stride + x).map_or(0.0, |&s| f32::from(s))
        }
    }
}

/// Tightly packed 8-bit limited-range BT.709 planes of `planes` (same size, same orientation).
pub fn to_bt709(planes: &Planes<'_>, colour: SourceColour) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    if colour.is_matrix_only() {
        matrix_only(planes, colour.matrix)
    } else {
        through_light(planes, colour)
    }
}

/// Normalised (Y' in 0..1, Cb and Cr in -0.5..0.5) from 8-bit-unit samples.
fn normalise(y: f32, cb: f32, cr: f32, full_range: bool) -> (f32, f32, f32) {
    if full_range {
        (y / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0)
    } else {
        ((y - 16.0) / 219.0, (cb - 128.0) / 224.0, (cr - 128.0) / 224.0)
    }
}

fn limited_luma(y: f32) -> u8 {
    (16.0 + 219.0 * y).round().clamp(16.0, 235.0) as u8
}

fn limited_chroma(c: f32) -> u8 {
    (128.0 + 224.0 * c).round().clamp(16.0, 240.0) as u8
}

/// Y' and (Cb, Cr) of the target matrix from a source matrix, linear in normalised Y'CbCr.
fn matrix_only(planes: &Planes<'_>, matrix: Matrix) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let convert = to_rgb(matrix);
    let (w, h) = (planes.size.0 as usize, planes.size.1 as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (ys, us, vs) = planes.strides;
    // Normalised chroma of every block, converted once.
    let mut chroma = Vec::with_capacity(cw * ch);
    for row in 0..ch {
        for x in 0..cw {
            let (cb, cr) = (
                planes.sample(planes.u, us, x, row),
                planes.sample(planes.v, vs, x, row),
            );
            let (_, cb, cr) = normalise(0.0, cb, cr, planes.full_range);
            chroma.push((cb, cr));
        }
    }
    let mut y_out = Vec::with_capacity(w * h);
    for row in 0..h {
        for x in 0..w {
            let (cb, cr) = chroma.get((row / 2) * cw + x / 2).copied().unwrap_or_default();
            let (luma, _, _) = normalise(
                planes.sample(planes.y, ys, x, row),
                128.0,
                128.0,
                planes.full_range,
            );
            let (r, g, b) = convert(luma, cb, cr);
            y_out.push(limited_luma(bt709_luma(r, g, b)));
        }
    }
    let (mut u_out, mut v_out) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for &(cb, cr) in &chroma {
        // Grey has no chroma in either matrix, so chroma maps from chroma alone (Y' = 0).
        let (r, g, b) = convert(0.0, cb, cr);
        let y = bt709_luma(r, g, b);
        u_out.push(limited_chroma((b - y) / 1.8556));
        v_out.push(limited_chroma((r - y) / 1.5748));
    }
    (y_out, u_out, v_out)
}

/// R'G'B' from normalised Y'CbCr of `matrix`.
fn to_rgb(matrix: Matrix) -> impl Fn(f32, f32, f32) -> (f32, f32, f32) {
    let (kr, kb) = matrix.coefficients();
    let kg = 1.0 - kr - kb;
    move |y, cb, cr| {
        let r = y + 2.0 * (1.0 - kr) * cr;
        let b = y + 2.0 * (1.0 - kb) * cb;
        let g = (y - kr * r - kb * b) / kg;
        (r, g, b)
    }
}

fn bt709_luma(r: f32, g: f32, b: f32) -> f32 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// The SDR reference white, nits: what an SDR display shows at full signal.
const SDR_WHITE_NITS: f32 = 100.0;
/// The peak an HDR source is assumed to be mastered to (HDR10's common 1000-nit grade, and
/// HLG's nominal display peak).
const HDR_PEAK_NITS: f32 = 1000.0;

/// BT.2020 to BT.709 primaries, in linear light (BT.2087).
const BT2020_TO_BT709: [[f32; 3]; 3] = [
    [1.6605, -0.5876, -0.0728],
    [-0.1246, 1.1329, -0.0083],
    [-0.0182, -0.1006, 1.1187],
];

fn through_light(planes: &Planes<'_>, colour: SourceColour) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let convert = to_rgb(colour.matrix);
    let eetf = Eetf::new(HDR_PEAK_NITS, SDR_WHITE_NITS);
    let (w, h) = (planes.size.0 as usize, planes.size.1 as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (ys, us, vs) = planes.strides;
    let mut y_out = Vec::with_capacity(w * h);
    // Per chroma block: the sum of its pixels' R'G'B' and how many there were.
    let mut blocks = vec![([0.0f32; 3], 0u32); cw * ch];
    for row in 0..h {
        for x in 0..w {
            let (cx, cy) = (x / 2, row / 2);
            let (luma, cb, cr) = normalise(
                planes.sample(planes.y, ys, x, row),
                planes.sample(planes.u, us, cx, cy),
                planes.sample(planes.v, vs, cx, cy),
                planes.full_range,
            );
            let (r, g, b) = convert(luma, cb, cr);
            let light = display_light(colour, [r, g, b], &eetf);
            let encoded = light.map(|c| c.clamp(0.0, 1.0).powf(1.0 / 2.4));
            y_out.push(limited_luma(bt709_luma(encoded[0], encoded[1], encoded[2])));
            if let Some((sum, n)) = blocks.get_mut(cy * cw + cx) {
                for (s, c) in sum.iter_mut().zip(encoded) {
                    *s += c;
                }
                *n += 1;
            }
        }
    }
    let (mut u_out, mut v_out) = (Vec::with_capacity(cw * ch), Vec::with_capacity(cw * ch));
    for (sum, n) in blocks {
        let n = n.max(1) as f32;
        let (r, g, b) = (sum[0] / n, sum[1] / n, sum[2] / n);
        let y = bt709_luma(r, g, b);
        u_out.push(limited_chroma((b - y) / 1.8556));
        v_out.push(limited_chroma((r - y) / 1.5748));
    }
    (y_out, u_out, v_out)
}

/// Linear BT.709 light relative to SDR white (0..1 shows; more clips) of one R'G'B' pixel.
fn display_light(colour: SourceColour, rgb: [f32; 3], eetf: &Eetf) -> [f32; 3] {
    let rgb = rgb.map(|c| c.clamp(0.0, 1.0));
    let linear = match colour.transfer {
        Transfer::Sdr => rgb.map(|c| c.powf(2.4)),
        Transfer::Pq => eetf.apply(rgb.map(pq_to_nits)),
        Transfer::Hlg => eetf.apply(hlg_to_nits(rgb)),
    };
    if colour.wide_gamut {
        BT2020_TO_BT709.map(|row| row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2])
    } else {
        linear
    }
}

const PQ_M1: f32 = 2610.0 / 16384.0;
const PQ_M2: f32 = 2523.0 / 4096.0 * 128.0;
const PQ_C1: f32 = 3424.0 / 4096.0;
const PQ_C2: f32 = 2413.0 / 4096.0 * 32.0;
const PQ_C3: f32 = 2392.0 / 4096.0 * 32.0;

/// The PQ EOTF: a signal in 0..1 to nits.
fn pq_to_nits(signal: f32) -> f32 {
    let p = signal.clamp(0.0, 1.0).powf(1.0 / PQ_M2);
    let l = ((p - PQ_C1).max(0.0) / (PQ_C2 - PQ_C3 * p)).powf(1.0 / PQ_M1);
    10_000.0 * l
}

/// The PQ inverse EOTF: nits to a signal in 0..1.
fn nits_to_pq(nits: f32) -> f32 {
    let l = (nits / 10_000.0).clamp(0.0, 1.0).powf(PQ_M1);
    ((PQ_C1 + PQ_C2 * l) / (1.0 + PQ_C3 * l)).powf(PQ_M2)
}

/// HLG to display light in nits: the inverse OETF to scene light, then the OOTF for a display
/// of [`HDR_PEAK_NITS`] (system gamma 1.2).
fn hlg_to_nits(rgb: [f32; 3]) -> [f32; 3] {
    const A: f32 = 0.178_832_77;
    const B: f32 = 0.284_668_92;
    const C: f32 = 0.559_910_7;
    let scene = rgb.map(|e| {
        if e <= 0.5 {
            e * e / 3.0
        } else {
            (((e - C) / A).exp() + B) / 12.0
        }
    });
    let ys = 0.2627 * scene[0] + 0.6780 * scene[1] + 0.0593 * scene[2];
    let gain = HDR_PEAK_NITS * ys.max(1e-6).powf(0.2);
    scene.map(|c| c * gain)
}

/// The BT.2390 EETF from a source peak to a target peak (black at 0), applied in the PQ domain
/// to max(R,G,B); the result is relative to the target peak.
struct Eetf {
    source_pq: f32,
    max_lum: f32,
    knee: f32,
    target_nits: f32,
}

impl Eetf {
    fn new(source_nits: f32, target_nits: f32) -> Self {
        let source_pq = nits_to_pq(source_nits);
        let max_lum = nits_to_pq(target_nits) / source_pq;
        Self {
            source_pq,
            max_lum,
            knee: 1.5 * max_lum - 0.5,
            target_nits,
        }
    }

    /// `e` (PQ, relative to the source peak) through the knee.
    fn curve(&self, e: f32) -> f32 {
        if e < self.knee {
            return e;
        }
        let t = ((e - self.knee) / (1.0 - self.knee)).min(1.0);
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.knee
            + (t3 - 2.0 * t2 + t) * (1.0 - self.knee)
            + (-2.0 * t3 + 3.0 * t2) * self.max_lum
    }

    fn apply(&self, nits: [f32; 3]) -> [f32; 3] {
        let peak = nits[0].max(nits[1]).max(nits[2]);
        if peak <= 0.0 {
            return [0.0; 3];
        }
        let e = (nits_to_pq(peak) / self.source_pq).min(1.0);
        let mapped = pq_to_nits(self.curve(e) * self.source_pq);
        let scale = mapped / peak / self.target_nits;
        nits.map(|c| c * scale)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// One 2x2 frame of a single colour, 8-bit.
    fn flat8(y: u8, u: u8, v: u8, full_range: bool, colour: SourceColour) -> (u8, u8, u8) {
        let (ys, us, vs) = ([y; 4], [u], [v]);
        let planes = Planes {
            y: &ys,
            u: &us,
            v: &vs,
            strides: (2, 1, 1),
            size: (2, 2),
            bits: 8,
            full_range,
        };
        let (y, u, v) = to_bt709(&planes, colour);
        assert!(y.iter().all(|&s| s == y[0]), "{y:?}");
        (y[0], u[0], v[0])
    }

    /// One 2x2 frame of a single colour, 10-bit.
    fn flat10(y: u16, u: u16, v: u16, colour: SourceColour) -> (u8, u8, u8) {
        let ys: Vec<u8> = [y; 4].iter().flat_map(|s| s.to_le_bytes()).collect();
        let (us, vs) = (u.to_le_bytes(), v.to_le_bytes());
        let planes = Planes {
            y: &ys,
            u: &us,
            v: &vs,
            strides: (4, 2, 2),
            size: (2, 2),
            bits: 10,
            full_range: false,
        };
        let (y, u, v) = to_bt709(&planes, colour);
        (y[0], u[0], v[0])
    }

    const BT709: SourceColour = SourceColour {
        matrix: Matrix::Bt709,
        transfer: Transfer::Sdr,
        wide_gamut: false,
    };
    const BT601: SourceColour = SourceColour {
        matrix: Matrix::Bt601,
        ..BT709
    };
    const PQ: SourceColour = SourceColour {
        matrix: Matrix::Bt2020,
        transfer: Transfer::Pq,
        wide_gamut: true,
    };
    const HLG: SourceColour = SourceColour {
        transfer: Transfer::Hlg,
        ..PQ
    };

    #[test]
    fn limited_bt709_passes_through_and_full_range_is_squeezed() {
        assert_eq!(flat8(81, 90, 240, false, BT709), (81, 90, 240));
        assert_eq!(flat8(16, 128, 128, false, BT709), (16, 128, 128));
        assert_eq!(flat8(255, 128, 128, true, BT709), (235, 128, 128));
        assert_eq!(flat8(0, 128, 128, true, BT709), (16, 128, 128));
    }

    #[test]
    fn bt601_red_becomes_bt709_red() {
        // 100% red: BT.601 limited (81, 90, 240); BT.709 limited (63, 102, 240).
        let (y, u, v) = flat8(81, 90, 240, false, BT601);
        assert!(
            y.abs_diff(63) <= 1 && u.abs_diff(102) <= 1 && v.abs_diff(240) <= 1,
            "{y} {u} {v}"
        );
        // Grey is grey in both.
        assert_eq!(flat8(126, 128, 128, false, BT601), (126, 128, 128));
    }

    #[test]
    fn pq_curves_invert_each_other() {
        for nits in [0.1f32, 1.0, 100.0, 203.0, 1000.0, 4000.0] {
            let back = pq_to_nits(nits_to_pq(nits));
            assert!((back - nits).abs() / nits < 1e-3, "{nits} -> {back}");
        }
        // 100 nits is about half the PQ signal: shown as SDR it would be washed-out grey.
        assert!((nits_to_pq(100.0) - 0.508).abs() < 0.002);
    }

    /// The 10-bit limited code of a PQ signal.
    fn pq_code(nits: f32) -> u16 {
        (64.0 + 876.0 * nits_to_pq(nits)).round() as u16
    }

    #[test]
    fn pq_white_is_tone_mapped_to_sdr_white_not_grey() {
        // A 1000-nit white reaches the top; 100-nit white stays bright (the knee compresses it
        // a little), nowhere near the mid-grey an untone-mapped PQ signal shows.
        let (peak, _, _) = flat10(pq_code(1000.0), 512, 512, PQ);
        assert!(peak >= 233, "{peak}");
        let (white, u, v) = flat10(pq_code(100.0), 512, 512, PQ);
        assert!((190..235).contains(&white), "{white}");
        assert!(u.abs_diff(128) <= 1 && v.abs_diff(128) <= 1, "{u} {v}");
        let (black, _, _) = flat10(64, 512, 512, PQ);
        assert_eq!(black, 16);
        // Brighter in, brighter out.
        let levels: Vec<u8> = [1.0, 10.0, 50.0, 100.0, 300.0, 1000.0, 4000.0]
            .iter()
            .map(|&n| flat10(pq_code(n), 512, 512, PQ).0)
            .collect();
        assert!(
            levels.windows(2).all(|p| p[0] < p[1] || p[1] == 235),
            "{levels:?}"
        );
    }

    #[test]
    fn saturated_bt2020_red_stays_red() {
        // BT.2020 red at 100 nits: R' = PQ(100), G' = B' = 0 in BT.2020 Y'CbCr.
        let e = nits_to_pq(100.0);
        let (kr, kb) = Matrix::Bt2020.coefficients();
        let y = kr * e;
        let cb = (0.0 - y) / (2.0 * (1.0 - kb));
        let cr = (e - y) / (2.0 * (1.0 - kr));
        let code = |v: f32, scale: f32, offset: f32| (offset + scale * v).round() as u16;
        let (y, u, v) = flat10(
            code(y, 876.0, 64.0),
            code(cb, 896.0, 512.0),
            code(cr, 896.0, 512.0),
            PQ,
        );
        assert!(v > 200 && u < 128 && y > 40, "{y} {u} {v}");
    }

    #[test]
    fn hlg_reference_white_is_bright() {
        // HLG's reference white (75% signal) is 203 nits on a 1000-nit display.
        let code = (64.0f32 + 876.0 * 0.75).round() as u16;
        let (y, _, _) = flat10(code, 512, 512, HLG);
        assert!(y > 200, "{y}");
    }

    #[test]
    fn colour_of_a_stream_follows_its_labels() {
        use crate::video::av::ColorRange;
        let mut facts = VideoStreamFacts {
            index: 0,
            codec: "h264".into(),
            width: 640,
            height: 480,
            rotation_degrees: 0,
            avg_frame_rate: None,
            real_frame_rate: None,
            variable_frame_rate: false,
            duration_seconds: None,
            frame_count: None,
            pixel_format: None,
            bit_depth: Some(8),
            color_range: ColorRange::Limited,
            color_primaries: None,
            transfer_characteristic: None,
            matrix_coefficients: None,
            hdr: None,
        };
        assert_eq!(SourceColour::of(&facts).matrix, Matrix::Bt601);
        facts.height = 720;
        facts.width = 1280;
        assert_eq!(SourceColour::of(&facts), BT709);
        facts.hdr = Some(Hdr::Pq);
        assert_eq!(SourceColour::of(&facts), PQ);
    }
}
