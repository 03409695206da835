//! Ogg Opus tests on files that ffmpeg encodes with libopus, checked against ffmpeg's own
//! decode (which honours pre-skip and end trimming) and against the known input signal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg (Debian package) must be installed for this test");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Encode `lavfi` (an ffmpeg source graph) to Ogg Opus with libopus.
fn opus_file(dir: &Path, name: &str, lavfi: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["-f", "lavfi", "-i", lavfi, "-c:a", "libopus", "-b:a", "96k"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

fn decode_all(path: &Path) -> (OggOpusDecoder, Vec<f32>) {
    let mut dec = open(Box::new(std::fs::File::open(path).unwrap())).unwrap();
    let mut pcm = Vec::new();
    while let Some(chunk) = dec.next_chunk().unwrap() {
        pcm.extend_from_slice(chunk);
    }
    (dec, pcm)
}

/// Frames that ffmpeg's (native, independent) Opus decoder produces for the file.
fn ffmpeg_frames(path: &Path, channels: usize) -> usize {
    let raw = ffmpeg(&["-i", path.to_str().unwrap(), "-f", "f32le", "-"]);
    raw.len() / 4 / channels
}

fn channel(pcm: &[f32], channels: usize, index: usize) -> Vec<f32> {
    pcm.chunks_exact(channels).map(|f| f[index]).collect()
}

/// Upward zero crossings in `samples` (one per period of a clean tone).
fn rising_crossings(samples: &[f32]) -> usize {
    samples.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
}

fn rms(samples: &[f32]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[test]
fn stereo_sine_decodes_to_the_right_duration_and_frequency() {
    let dir = tempfile::tempdir().unwrap();
    // Left 1 kHz, right 440 Hz, 3 s at 44.1 kHz (ffmpeg resamples to 48 kHz for libopus).
    let path = opus_file(
        dir.path(),
        "t.opus",
        "sine=f=1000:r=44100:d=3[l];sine=f=440:r=44100:d=3[r];[l][r]join=inputs=2:channel_layout=stereo",
        &[],
    );
    let (dec, pcm) = decode_all(&path);
    assert_eq!(dec.channel_count(), 2);
    assert_eq!(dec.head().mapping_family, 0);
    assert!(dec.head().pre_skip > 0, "libopus always has a pre-skip");
    let frames = pcm.len() / 2;
    assert_eq!(frames as u64, dec.frames_out());
    let seconds = frames as f64 / 48_000.0;
    assert!((seconds - 3.0).abs() < 0.02, "{seconds} s");
    assert_eq!(frames, ffmpeg_frames(&path, 2), "same length as ffmpeg's decode");
    // One second of steady tone from the middle: 1000 and 440 periods.
    let left = channel(&pcm, 2, 0);
    let right = channel(&pcm, 2, 1);
    assert!(rising_crossings(&left[48_000..96_000]).abs_diff(1000) <= 2);
    assert!(rising_crossings(&right[48_000..96_000]).abs_diff(440) <= 2);
    // ffmpeg's sine source is at 1/8 full scale: RMS 0.125/√2.
    assert!((rms(&left[48_000..96_000]) - 0.125 / 2f64.sqrt()).abs() < 0.01);
}

#[test]
fn length_is_exact_when_the_input_is_48_khz() {
    let dir = tempfile::tempdir().unwrap();
    // 1.234 s is not a whole number of 20 ms packets: the end trim must cut the padding.
    let path = opus_file(dir.path(), "t.opus", "sine=f=700:r=48000:d=1.234", &["-ac", "1"]);
    let (dec, pcm) = decode_all(&path);
    assert_eq!(dec.channel_count(), 1);
    assert_eq!(pcm.len(), 59_232, "1.234 s × 48 kHz");
    assert_eq!(pcm.len(), ffmpeg_frames(&path, 1));
}

#[test]
fn pre_skip_is_dropped_so_the_tone_starts_at_time_zero() {
    let dir = tempfile::tempdir().unwrap();
    // Silence for 0.5 s, then a tone: with the pre-skip honoured, the onset is at 24 000.
    let path = opus_file(
        dir.path(),
        "t.opus",
        "aevalsrc=if(gte(t\\,0.5)\\,0.5*sin(2*PI*1000*t)\\,0):s=48000:d=1",
        &["-ac", "1"],
    );
    let (_, pcm) = decode_all(&path);
    let onset = pcm.iter().position(|s| s.abs() > 0.1).unwrap();
    assert!(onset.abs_diff(24_000) < 48, "onset at {onset}");
}

/// Ogg page CRC (polynomial 0x04c11db7, unreflected, initial value 0).
fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for byte in page {
        crc ^= u32::from(*byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Rewrite the output gain of the OpusHead in the file's first page, fixing its CRC.
fn with_output_gain(bytes: &[u8], gain_q8: i16) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let segments = usize::from(out[26]);
    let body_len: usize = out[27..27 + segments].iter().map(|b| usize::from(*b)).sum();
    let head = 27 + segments;
    assert_eq!(&out[head..head + 8], b"OpusHead");
    out[head + 16..head + 18].copy_from_slice(&gain_q8.to_le_bytes());
    let page_end = head + body_len;
    out[22..26].fill(0);
    let crc = ogg_crc(&out[..page_end]);
    out[22..26].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn output_gain_from_the_header_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = opus_file(dir.path(), "t.opus", "sine=f=500:r=48000:d=1", &["-ac", "1"]);
    let original = std::fs::read(&path).unwrap();
    // The rewritten file with a zero gain must decode like the original: proves the CRC fix.
    let same = dir.path().join("same.opus");
    std::fs::write(&same, with_output_gain(&original, 0)).unwrap();
    let louder = dir.path().join("louder.opus");
    std::fs::write(&louder, with_output_gain(&original, 1541)).unwrap(); // +6.02 dB
    let (_, base) = decode_all(&same);
    let (dec, boosted) = decode_all(&louder);
    assert_eq!(dec.head().output_gain_q8, 1541);
    assert_eq!(base.len(), boosted.len());
    let ratio = rms(&boosted[4800..]) / rms(&base[4800..]);
    assert!((ratio - 2.0).abs() < 0.01, "gain ratio {ratio}");
}

#[test]
fn surround_is_reordered_from_vorbis_to_wave_order() {
    let dir = tempfile::tempdir().unwrap();
    // 5.1 with a tone only in the centre (WAVE order FL FR FC LFE BL BR: index 2).
    let path = opus_file(
        dir.path(),
        "t.opus",
        "aevalsrc=0|0|0.5*sin(2*PI*800*t)|0|0|0:s=48000:d=1:channel_layout=5.1",
        &["-mapping_family", "1"],
    );
    let (dec, pcm) = decode_all(&path);
    assert_eq!(dec.head().mapping_family, 1);
    assert_eq!(dec.channel_count(), 6);
    let expected = Position::FRONT_LEFT
        | Position::FRONT_RIGHT
        | Position::FRONT_CENTER
        | Position::LFE1
        | Position::REAR_LEFT
        | Position::REAR_RIGHT;
    assert_eq!(dec.channels(), &Channels::Positioned(expected));
    let levels: Vec<f64> = (0..6).map(|c| rms(&channel(&pcm, 6, c)[4800..])).collect();
    println!("per-channel RMS: {levels:?}");
    let loudest = (0..6).max_by(|a, b| levels[*a].total_cmp(&levels[*b])).unwrap();
    assert_eq!(loudest, 2, "the centre tone must land on WAVE channel 2");
    assert!(levels[2] > 0.3);
}

#[test]
fn ogg_opus_is_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let opus = opus_file(dir.path(), "t.opus", "sine=r=48000:d=0.5", &[]);
    let vorbis = dir.path().join("t.ogg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=r=44100:d=0.5",
        "-c:a",
        "libvorbis",
        vorbis.to_str().unwrap(),
    ]);
    let flac = dir.path().join("t.flac");
    ffmpeg(&["-f", "lavfi", "-i", "sine=r=44100:d=0.5", flac.to_str().unwrap()]);
    let prefix = |p: &Path| {
        std::fs::read(p)
            .unwrap()
            .into_iter()
            .take(SNIFF_LEN)
            .collect::<Vec<_>>()
    };
    assert!(is_ogg_opus(&prefix(&opus)));
    assert!(!is_ogg_opus(&prefix(&vorbis)));
    assert!(!is_ogg_opus(&prefix(&flac)));
    assert!(!is_ogg_opus(b""));
    assert!(!is_ogg_opus(b"OggS"));
    // And the decoder refuses Vorbis with a clear reason instead of misdecoding it.
    let err = open(Box::new(std::fs::File::open(&vorbis).unwrap()))
        .err()
        .unwrap();
    assert_eq!(err.code().as_str(), "unsupported-codec", "{err}");
}

#[test]
fn header_parser_refuses_inconsistent_headers() {
    let mut good = b"OpusHead".to_vec();
    good.extend_from_slice(&[1, 2]); // version 1, 2 channels
    good.extend_from_slice(&312u16.to_le_bytes());
    good.extend_from_slice(&44_100u32.to_le_bytes());
    good.extend_from_slice(&(-256i16).to_le_bytes());
    good.push(0); // family 0
    let head = OpusHead::parse(&good).unwrap();
    assert_eq!(
        (head.streams, head.coupled_streams, head.mapping.clone()),
        (1, 1, vec![0, 1])
    );
    assert!((head.gain_factor() - 10f32.powf(-1.0 / 20.0)).abs() < 1e-6);

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for cut in 0..good.len() {
        cases.push(("truncated", good[..cut].to_vec()));
    }
    let mut v = good.clone();
    v[8] = 0x10;
    cases.push(("major version 1", v));
    let mut v = good.clone();
    v[9] = 0;
    cases.push(("no channels", v));
    let mut v = good.clone();
    v[9] = 3;
    cases.push(("family 0 with 3 channels", v));
    let mut family1 = good.clone();
    family1[18] = 1;
    family1.extend_from_slice(&[1, 2, 0, 1]); // 1 stream, 2 coupled: impossible
    cases.push(("more coupled than streams", family1));
    let mut family1 = good.clone();
    family1[18] = 1;
    family1.extend_from_slice(&[1, 1, 0, 7]); // maps to decoded channel 7 of 2
    cases.push(("mapping out of range", family1));
    let mut family1 = good.clone();
    family1[18] = 1;
    family1.extend_from_slice(&[1, 1, 0]); // mapping table one entry short
    cases.push(("short mapping", family1));
    for (name, bytes) in cases {
        let err = OpusHead::parse(&bytes)
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"));
        assert!(
            matches!(err.code().as_str(), "corrupt-media" | "unsupported-codec"),
            "{name}: {err}"
        );
    }
}

#[test]
fn damaged_files_are_errors_or_shorter_audio_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = opus_file(dir.path(), "t.opus", "sine=r=48000:d=2", &[]);
    let bytes = std::fs::read(&path).unwrap();
    let mut corpus: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("zeros".into(), vec![0; 4096]),
        ("magic only".into(), b"OggS".to_vec()),
    ];
    for cut in [28, 47, 60, 100, 300, bytes.len() / 3, bytes.len() - 1] {
        corpus.push((format!("cut at {cut}"), bytes[..cut].to_vec()));
    }
    for seed in 0..8u32 {
        let mut scrambled = bytes.clone();
        let mut x = 0x2545_f491u32 ^ seed;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let at = 200 + (x as usize) % (scrambled.len() - 200);
            scrambled[at] = (x >> 8) as u8;
        }
        corpus.push((format!("scrambled {seed}"), scrambled));
    }
    let mut errors = 0;
    for (name, bytes) in corpus {
        let outcome = open(Box::new(std::io::Cursor::new(bytes))).and_then(|mut dec| {
            let mut frames = 0;
            while let Some(chunk) = dec.next_chunk()? {
                assert!(chunk.iter().all(|s| s.is_finite()), "{name}: non-finite samples");
                frames += chunk.len();
            }
            Ok(frames)
        });
        match outcome {
            Ok(frames) => println!("{name}: {frames} samples"),
            Err(e) => {
                errors += 1;
                println!("{name}: {} ({e})", e.code());
            }
        }
    }
    assert!(
        errors >= 4,
        "empty, zeros, magic-only and header cuts must be refused"
    );
}

#[test]
fn an_interrupted_upload_keeps_the_audio_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = opus_file(dir.path(), "t.opus", "sine=r=48000:d=2", &["-ac", "1"]);
    let bytes = std::fs::read(&path).unwrap();
    let (_, whole) = decode_all(&path);
    let cut = dir.path().join("cut.opus");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (_, part) = decode_all(&cut);
    println!("whole {} frames, cut {} frames", whole.len(), part.len());
    assert!(part.len() > 24_000 && part.len() < whole.len());
    // What was kept is the start of the same audio.
    assert_eq!(&part[..24_000], &whole[..24_000]);
}
