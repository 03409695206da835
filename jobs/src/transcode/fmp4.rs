//! Fragmented MP4 (CMAF-style) boxes for one audio track (Opus or AAC-LC): the init segment and
//! moof+mdat media segments.

use bytes::Bytes;
use mp4_atom::{
    Audio, Codec, Dinf, Dops, Dref, Edts, Elst, ElstEntry, Encode, Esds, FourCC, Ftyp, Hdlr, Mdhd, Mdia,
    Mfhd, Minf, Moof, Moov, Mp4a, Mvex, Mvhd, Opus, Smhd, Stbl, Stco, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak,
    Trex, Trun, TrunEntry, Url,
    esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig},
};

use super::error::TranscodeError;

/// Media and movie timescale: one tick per 48 kHz sample, so Opus frame durations are exact.
pub const TIMESCALE: u32 = 48_000;
/// The only track in every file we write.
const TRACK_ID: u32 = 1;
/// Size of a 32-bit box header (size + type), used to point trun's data_offset past mdat's header.
const BOX_HEADER: usize = 8;

/// What the init segment says about the track.
#[derive(Debug, Clone)]
pub struct TrackConfig {
    /// The codec and its decoder configuration.
    pub codec: TrackCodec,
    /// Encoded channel count (1 or 2).
    pub channels: u16,
    /// Encoder delay in 48 kHz samples, hidden by the edit list.
    pub priming: u64,
    /// Samples per packet (every packet of a track has the same duration).
    pub frame_samples: u32,
}

/// The codec-specific part of the sample entry.
#[derive(Debug, Clone)]
pub enum TrackCodec {
    /// `Opus` + `dOps`.
    Opus {
        /// Decoder pre-skip in 48 kHz samples (= encoder lookahead).
        pre_skip: u16,
    },
    /// `mp4a` + `esds`.
    Aac {
        /// The encoder's AudioSpecificConfig.
        audio_specific_config: Vec<u8>,
        /// Target bitrate, for the decoder configuration descriptor.
        bitrate_bps: u32,
    },
}

fn mux_err(e: mp4_atom::Error) -> TranscodeError {
    TranscodeError::Encoder(format!("mp4 muxing: {e}"))
}

/// Build `ftyp` + `moov` for a fragmented audio track, with an edit list that hides the
/// encoder's priming samples.
pub fn init_segment(cfg: &TrackConfig) -> Result<Bytes, TranscodeError> {
    // 'cmfc' marks CMAF structure; 'Opus' is required by the Opus-in-ISOBMFF spec.
    let mut compatible_brands = vec![FourCC::new(b"iso6"), FourCC::new(b"cmfc")];
    let audio = Audio {
        data_reference_index: 1,
        channel_count: cfg.channels,
        sample_size: 16,
        sample_rate: u16::try_from(TIMESCALE).unwrap_or(u16::MAX).into(),
    };
    let sample_entry = match &cfg.codec {
        TrackCodec::Opus { pre_skip } => {
            compatible_brands.push(FourCC::new(b"Opus"));
            Codec::Opus(Opus {
                audio,
                dops: Dops {
                    output_channel_count: u8::try_from(cfg.channels).map_err(|_| {
                        TranscodeError::Encoder(format!("{} channels do not fit dOps", cfg.channels))
                    })?,
                    pre_skip: *pre_skip,
                    // RFC 7845 calls this the original input's rate, informational only, but
                    // Chromium refuses an Opus sample entry whose rate differs from it ("Opus
                    // AudioSampleEntry sample rate mismatches OpusSpecificBox"), and the entry
                    // must say 48 kHz: write the rate the encoder was fed, as ffmpeg does.
                    input_sample_rate: TIMESCALE,
                    output_gain: 0,
                    channel_mapping: None,
                },
                btrt: None,
            })
        }
        TrackCodec::Aac {
            audio_specific_config,
            bitrate_bps,
        } => Codec::Mp4a(Mp4a {
            audio,
            esds: Esds {
                es_desc: EsDescriptor {
                    es_id: 0,
                    dec_config: DecoderConfig {
                        // ISO/IEC 14496-3 audio, an audio stream.
                        object_type_indication: 0x40,
                        stream_type: 0x05,
                        max_bitrate: *bitrate_bps,
                        avg_bitrate: *bitrate_bps,
                        dec_specific: Some(DecoderSpecific {
                            raw: audio_specific_config.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    sl_config: SLConfig {},
                    ..Default::default()
                },
            },
            btrt: None,
            taic: None,
        }),
    };
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands,
    };
    let trak = Trak {
        tkhd: Tkhd {
            track_id: TRACK_ID,
            enabled: true,
            in_movie: true,
            volume: 1.into(),
            ..Default::default()
        },
        // Duration 0 = "the rest of the media" in fragmented files; the length isn't known
        // when the init segment goes out. media_time skips the encoder's priming samples.
        edts: Some(Edts {
            elst: Some(Elst {
                entries: vec![ElstEntry {
                    segment_duration: 0,
                    media_time: Some(cfg.priming),
                    media_rate: 1.into(),
                }],
            }),
        }),
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: TIMESCALE,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(b"soun"),
                name: "SoundHandler".into(),
            },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![sample_entry],
                    },
                    stco: Some(Stco::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: TIMESCALE,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: TRACK_ID + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                default_sample_duration: cfg.frame_samples,
                default_sample_size: 0,
                default_sample_flags: 0,
            }],
        }),
        trak: vec![trak],
        ..Default::default()
    };
    let mut buf = Vec::with_capacity(1024);
    ftyp.encode(&mut buf).map_err(mux_err)?;
    moov.encode(&mut buf).map_err(mux_err)?;
    Ok(Bytes::from(buf))
}

/// Build one `moof` + `mdat` holding `packets` (each `frame_samples` long) starting at
/// `base_decode_time`.
pub fn media_segment(
    sequence_number: u32,
    base_decode_time: u64,
    packets: &[Vec<u8>],
    frame_samples: u32,
) -> Result<Bytes, TranscodeError> {
    let entries = packets
        .iter()
        .map(|p| {
            let size =
                u32::try_from(p.len()).map_err(|_| TranscodeError::Encoder("packet too large".into()))?;
            Ok(TrunEntry {
                duration: Some(frame_samples),
                size: Some(size),
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>, TranscodeError>>()?;
    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: TRACK_ID,
                // Offsets relative to moof make each segment self-contained (CMAF requirement).
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: base_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        }],
    };
    // Encode once to learn moof's size, then point data_offset at the first mdat payload byte.
    let mut probe = Vec::new();
    moof.encode(&mut probe).map_err(mux_err)?;
    let data_offset = i32::try_from(probe.len() + BOX_HEADER)
        .map_err(|_| TranscodeError::Encoder("moof too large".into()))?;
    if let Some(trun) = moof.traf.first_mut().and_then(|t| t.trun.first_mut()) {
        trun.data_offset = Some(data_offset);
    }

    let payload: usize = packets.iter().map(Vec::len).sum();
    let mdat_size = u32::try_from(payload + BOX_HEADER)
        .map_err(|_| TranscodeError::Encoder("segment larger than 4 GiB".into()))?;
    let mut buf = Vec::with_capacity(probe.len() + BOX_HEADER + payload);
    moof.encode(&mut buf).map_err(mux_err)?;
    if buf.len() != probe.len() {
        return Err(TranscodeError::Encoder("moof size changed between passes".into()));
    }
    // mdat written by hand so packets are copied once, straight into the output buffer.
    buf.extend_from_slice(&mdat_size.to_be_bytes());
    buf.extend_from_slice(b"mdat");
    for p in packets {
        buf.extend_from_slice(p);
    }
    Ok(Bytes::from(buf))
}
