//! Fragmented MP4 (CMAF) for a single video track (track_ID 1), using `mp4-atom` 0.17.
//!
//! * [`init_segment_avc`]: `ftyp` (major `iso6`, compatible `iso6 cmfc avc1`) + `moov`
//!   (`mvhd`, `trak` with an `avc1` sample entry carrying `avcC` — and `colr nclx` when the
//!   SPS VUI in avcC signals a colour description — and `mvex/trex`).
//! * [`init_segment`]: the same for AV1: `av01` + `av1C` (and `colr nclx` from the sequence
//!   header's colour description).
//! * [`media_segment`]: `moof` (`mfhd`, `traf` = `tfhd` default-base-is-moof with the
//!   default sample duration, `tfdt` version 1, `trun` with data_offset and per-sample size
//!   and flags) followed by `mdat`.

use bytes::{BufMut as _, Bytes, BytesMut};
use mp4_atom::{
    Atom, Av01, Av1c, Avc1, Avcc, Codec, Colr, Dinf, Dref, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mfhd,
    Minf, Moof, Moov, Mvex, Mvhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry,
    TrunSamples, Url, Visual, Vmhd,
};

use veza_av1::parse_sequence_header_obu;

use super::h264::parse_sps;

/// The one track in every segment.
pub const TRACK_ID: u32 = 1;

/// Sample flags (ISO/IEC 14496-12 §8.8.3.1) for a sync sample: sample_depends_on = 2.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags for a non-sync sample: sample_depends_on = 1, sample_is_non_sync_sample = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("mp4 encoding failed: {0}")]
    Mp4(#[from] mp4_atom::Error),
}

fn encode_to(buf: &mut Vec<u8>, atom: &impl Encode) -> Result<(), Fmp4Error> {
    atom.encode(buf).map_err(Fmp4Error::from)
}

fn check_dims(width: u32, height: u32, timescale: u32) -> Result<(u16, u16), Fmp4Error> {
    let w16 = u16::try_from(width)
        .ok()
        .filter(|w| *w > 0)
        .ok_or_else(|| Fmp4Error::Invalid(format!("width {width} out of range")))?;
    let h16 = u16::try_from(height)
        .ok()
        .filter(|h| *h > 0)
        .ok_or_else(|| Fmp4Error::Invalid(format!("height {height} out of range")))?;
    if timescale == 0 {
        return Err(Fmp4Error::Invalid("timescale must be > 0".into()));
    }
    Ok((w16, h16))
}

/// Build the CMAF initialization segment. `av1c` is the AV1CodecConfigurationRecord (av1C
/// payload, e.g. from `Av1Encoder::av1c()`).
pub fn init_segment(width: u32, height: u32, timescale: u32, av1c: &[u8]) -> Result<Bytes, Fmp4Error> {
    let (w16, h16) = check_dims(width, height, timescale)?;
    let mut rec = av1c;
    let av1c_box = Av1c::decode_body(&mut rec)?;
    if !rec.is_empty() {
        return Err(Fmp4Error::Invalid("trailing bytes after av1C record".into()));
    }

    // Mirror the colour description of the sequence header (if any) in a colr/nclx box,
    // which some players (Apple) look at before decoding.
    let colr = if av1c_box.config_obus.is_empty() {
        None
    } else {
        let info = parse_sequence_header_obu(&av1c_box.config_obus)
            .map_err(|e| Fmp4Error::Invalid(format!("av1C configOBUs: {e}")))?;
        info.color_description.map(|(cp, tc, mc)| Colr::Nclx {
            colour_primaries: u16::from(cp),
            transfer_characteristics: u16::from(tc),
            matrix_coefficients: u16::from(mc),
            full_range_flag: info.full_range,
        })
    };

    let av01 = Av01 {
        visual: Visual {
            data_reference_index: 1,
            width: w16,
            height: h16,
            ..Default::default()
        },
        av1c: av1c_box,
        colr,
        ..Default::default()
    };
    init_segment_for(w16, h16, timescale, FourCC::new(b"av01"), Codec::Av01(av01))
}

/// Build the CMAF initialization segment for an H.264 track. `avcc` is the
/// AVCDecoderConfigurationRecord (avcC payload, e.g. from `H264Encoder::avcc()`); its SPS must
/// describe a `width` x `height` picture.
pub fn init_segment_avc(width: u32, height: u32, timescale: u32, avcc: &[u8]) -> Result<Bytes, Fmp4Error> {
    let (w16, h16) = check_dims(width, height, timescale)?;
    let mut rec = avcc;
    let avcc_box = Avcc::decode_body(&mut rec)?;
    if !rec.is_empty() {
        return Err(Fmp4Error::Invalid("trailing bytes after avcC record".into()));
    }
    if avcc_box.length_size != 4 {
        return Err(Fmp4Error::Invalid(format!(
            "avcC lengthSizeMinusOne + 1 = {}, samples use 4",
            avcc_box.length_size
        )));
    }
    if avcc_box.picture_parameter_sets.is_empty() {
        return Err(Fmp4Error::Invalid("avcC without PPS".into()));
    }
    let sps = avcc_box
        .sequence_parameter_sets
        .first()
        .ok_or_else(|| Fmp4Error::Invalid("avcC without SPS".into()))?;
    let info = parse_sps(sps).map_err(|e| Fmp4Error::Invalid(format!("avcC SPS: {e}")))?;
    if (info.width, info.height) != (width, height) {
        return Err(Fmp4Error::Invalid(format!(
            "avcC SPS describes {}x{}, sample entry says {width}x{height}",
            info.width, info.height
        )));
    }
    if (
        avcc_box.avc_profile_indication,
        avcc_box.profile_compatibility,
        avcc_box.avc_level_indication,
    ) != (info.profile_idc, info.constraint_flags, info.level_idc)
    {
        return Err(Fmp4Error::Invalid(
            "avcC profile/compatibility/level disagree with its SPS".into(),
        ));
    }
    // Mirror the VUI colour description (if any) in a colr/nclx box, as for AV1.
    let colr = info.color_description.map(|(cp, tc, mc)| Colr::Nclx {
        colour_primaries: u16::from(cp),
        transfer_characteristics: u16::from(tc),
        matrix_coefficients: u16::from(mc),
        full_range_flag: info.full_range,
    });
    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width: w16,
            height: h16,
            ..Default::default()
        },
        avcc: avcc_box,
        colr,
        ..Default::default()
    };
    init_segment_for(w16, h16, timescale, FourCC::new(b"avc1"), Codec::Avc1(avc1))
}

/// `ftyp` (major `iso6`, compatible `iso6 cmfc <brand>`) + `moov` with one video track using
/// the sample entry `codec`. Shared by the per-codec init segment builders.
fn init_segment_for(
    w16: u16,
    h16: u16,
    timescale: u32,
    brand: FourCC,
    codec: Codec,
) -> Result<Bytes, Fmp4Error> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![FourCC::new(b"iso6"), FourCC::new(b"cmfc"), brand],
    };

    let moov = Moov {
        mvhd: Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale,
            duration: 0,
            rate: 1u16.into(),
            volume: 1u8.into(),
            matrix: Default::default(),
            next_track_id: TRACK_ID + 1,
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: 0,
            }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                track_id: TRACK_ID,
                enabled: true,
                in_movie: true,
                width: w16.into(),
                height: h16.into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    timescale,
                    language: "und".into(),
                    ..Default::default()
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"vide"),
                    name: "VideoHandler".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: Dinf {
                        dref: Dref {
                            entries: vec![
                                Url {
                                    location: String::new(),
                                }
                                .into(),
                            ],
                        },
                    },
                    stbl: Stbl {
                        stsd: Stsd { codecs: vec![codec] },
                        stco: Some(Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };

    let mut buf = Vec::with_capacity(1024);
    encode_to(&mut buf, &ftyp)?;
    encode_to(&mut buf, &moov)?;
    Ok(Bytes::from(buf))
}

/// Build one media segment: `moof` + `mdat` holding `samples` (each an AV1 temporal unit in
/// ISOBMFF sample form, with its sync flag), all of duration `sample_duration` (in the
/// track timescale), the first decoded at `base_decode_time`.
pub fn media_segment(
    sequence_number: u32,
    base_decode_time: u64,
    sample_duration: u32,
    samples: &[(&[u8], bool)],
) -> Result<Bytes, Fmp4Error> {
    if samples.is_empty() {
        return Err(Fmp4Error::Invalid(
            "media segment needs at least one sample".into(),
        ));
    }
    if sample_duration == 0 {
        return Err(Fmp4Error::Invalid("sample_duration must be > 0".into()));
    }
    let mut payload_len: u64 = 0;
    let mut entries = Vec::with_capacity(samples.len());
    for (i, (data, sync)) in samples.iter().enumerate() {
        let size = u32::try_from(data.len())
            .map_err(|_| Fmp4Error::Invalid(format!("sample {i} larger than 4 GiB")))?;
        payload_len += u64::from(size);
        entries.push(TrunEntry {
            duration: None,
            size: Some(size),
            flags: Some(if *sync {
                SYNC_SAMPLE_FLAGS
            } else {
                NON_SYNC_SAMPLE_FLAGS
            }),
            cts: None,
        });
    }
    let mdat_size =
        u32::try_from(payload_len + 8).map_err(|_| Fmp4Error::Invalid("mdat larger than 4 GiB".into()))?;

    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: TRACK_ID,
                default_sample_duration: Some(sample_duration),
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: base_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: TrunSamples::Explicit(entries),
            }],
            ..Default::default()
        }],
    };

    // data_offset is relative to the first byte of the moof (default-base-is-moof) and
    // points at the first sample: moof size + mdat header. Its field has a fixed width,
    // so encode once to learn the size, then again with the real offset.
    let mut probe = Vec::new();
    encode_to(&mut probe, &moof)?;
    let data_offset =
        i32::try_from(probe.len() + 8).map_err(|_| Fmp4Error::Invalid("moof too large".into()))?;
    if let Some(trun) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
        trun.data_offset = Some(data_offset);
    }
    let mut moof_bytes = Vec::with_capacity(probe.len());
    encode_to(&mut moof_bytes, &moof)?;
    if moof_bytes.len() != probe.len() {
        return Err(Fmp4Error::Invalid("moof size changed between passes".into()));
    }

    let total = moof_bytes.len() + mdat_size as usize;
    let mut out = BytesMut::with_capacity(total);
    out.put_slice(&moof_bytes);
    out.put_u32(mdat_size);
    out.put_slice(b"mdat");
    for (data, _) in samples {
        out.put_slice(data);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use mp4_atom::Decode;

    #[test]
    fn media_segment_roundtrip() {
        let a = [1u8, 2, 3];
        let b = [4u8, 5];
        let seg = media_segment(7, 1_000_000, 512, &[(&a[..], true), (&b[..], false)]).unwrap();
        let mut cur = std::io::Cursor::new(seg.as_ref());
        let moof = Moof::decode(&mut cur).unwrap();
        assert_eq!(moof.mfhd.sequence_number, 7);
        let traf = &moof.traf[0];
        assert!(traf.tfhd.default_base_is_moof);
        assert_eq!(traf.tfhd.default_sample_duration, Some(512));
        assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 1_000_000);
        let trun = &traf.trun[0];
        let off = trun.data_offset.unwrap() as usize;
        assert_eq!(&seg[off..], &[1, 2, 3, 4, 5]);
        assert_eq!(&seg[off - 4..off], b"mdat");
        let e: Vec<_> = trun.samples.iter().collect();
        assert_eq!(e[0].flags, Some(SYNC_SAMPLE_FLAGS));
        assert_eq!(e[1].flags, Some(NON_SYNC_SAMPLE_FLAGS));
        assert_eq!(e[1].size, Some(2));
    }

    #[test]
    fn init_segment_avc_roundtrip() {
        let enc = crate::video::h264::H264Encoder::new(320, 180, (25, 1), 25, &Default::default()).unwrap();
        let avcc = enc.avcc().unwrap();
        let init = init_segment_avc(320, 180, 12800, &avcc).unwrap();
        let mut cur = std::io::Cursor::new(init.as_ref());
        let ftyp = Ftyp::decode(&mut cur).unwrap();
        assert_eq!(ftyp.major_brand, FourCC::new(b"iso6"));
        assert_eq!(ftyp.compatible_brands[2], FourCC::new(b"avc1"));
        let moov = Moov::decode(&mut cur).unwrap();
        assert_eq!(cur.position() as usize, init.len());
        assert_eq!(moov.mvex.as_ref().unwrap().trex[0].track_id, TRACK_ID);
        let trak = &moov.trak[0];
        assert_eq!(trak.mdia.mdhd.timescale, 12800);
        let Codec::Avc1(avc1) = &trak.mdia.minf.stbl.stsd.codecs[0] else {
            panic!("not avc1")
        };
        assert_eq!((avc1.visual.width, avc1.visual.height), (320, 180));
        let mut rebuilt = Vec::new();
        avc1.avcc.encode_body(&mut rebuilt).unwrap();
        assert_eq!(rebuilt, avcc);
        assert_eq!(
            avc1.colr,
            Some(Colr::Nclx {
                colour_primaries: 1,
                transfer_characteristics: 1,
                matrix_coefficients: 1,
                full_range_flag: false
            })
        );
    }

    #[test]
    fn rejects_bad_avcc() {
        assert!(init_segment_avc(320, 180, 25, &[0x01, 0x42, 0xc0, 0x0c]).is_err());
        let enc = crate::video::h264::H264Encoder::new(320, 180, (25, 1), 25, &Default::default()).unwrap();
        let avcc = enc.avcc().unwrap();
        // Size disagreeing with the SPS, trailing bytes, zero timescale.
        assert!(init_segment_avc(320, 176, 25, &avcc).is_err());
        let mut long = avcc.clone();
        long.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert!(init_segment_avc(320, 180, 25, &long).is_err());
        assert!(init_segment_avc(320, 180, 0, &avcc).is_err());
        assert!(media_segment(1, 0, 1, &[]).is_err());
    }
}
