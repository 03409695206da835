//! Metadata tests on files that ffmpeg (an independent tagger) writes with known tags and a
//! cover picture, and on a corpus of damaged files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn ffmpeg(args: &[&str]) {
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
}

/// A small picture to embed: 16×16 red, as PNG and JPEG.
fn covers(dir: &Path) -> (PathBuf, PathBuf) {
    let png = dir.join("cover.png");
    let jpg = dir.join("cover.jpg");
    for path in [&png, &jpg] {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16",
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ]);
    }
    (png, jpg)
}

/// Tag a 2.5 s 44.1 kHz stereo sine into `out` with `codec_args`, embedding `cover`.
fn tagged(out: &Path, cover: &Path, codec_args: &[&str]) {
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=2.5",
        "-i",
        cover.to_str().unwrap(),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-ac",
        "2",
    ];
    args.extend_from_slice(codec_args);
    args.extend_from_slice(&[
        "-c:v",
        "copy",
        "-disposition:v",
        "attached_pic",
        "-metadata:s:v",
        "comment=Cover (front)",
        "-metadata",
        "title=Blue in Green",
        "-metadata",
        "artist=Miles Davis",
        "-metadata",
        "album=Kind of Blue",
        "-metadata",
        "album_artist=Miles Davis Sextet",
        "-metadata",
        "track=3/5",
        "-metadata",
        "disc=1",
        "-metadata",
        "date=1959-08-17",
        "-metadata",
        "genre=Jazz",
        out.to_str().unwrap(),
    ]);
    ffmpeg(&args);
}

fn read(path: &Path) -> AudioMetadata {
    let m = read_metadata(Box::new(std::fs::File::open(path).unwrap())).unwrap();
    println!("{}: {}", path.display(), serde_json::to_string(&m).unwrap());
    m
}

fn assert_common_tags(m: &AudioMetadata, cover: &Path, media_type: &str) {
    let t = &m.tags;
    assert_eq!(t.title.as_deref(), Some("Blue in Green"));
    assert_eq!(t.artist.as_deref(), Some("Miles Davis"));
    assert_eq!(t.album.as_deref(), Some("Kind of Blue"));
    assert_eq!(t.album_artist.as_deref(), Some("Miles Davis Sextet"));
    assert_eq!(t.track_number, Some(3));
    assert_eq!(t.genre.as_deref(), Some("Jazz"));
    assert_eq!(t.year, Some(1959));
    assert_eq!(m.sample_rate, Some(44_100));
    assert_eq!(m.channels, Some(2));
    let art = m.cover_art.as_ref().expect("cover art");
    assert_eq!(art.media_type, media_type);
    let original = std::fs::read(cover).unwrap();
    assert_eq!(art.data.as_ref(), &original[..], "cover bytes round-trip");
    assert_eq!(art.size_bytes, original.len() as u64);
}

#[test]
fn flac_vorbis_comments_and_picture_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (png, _) = covers(dir.path());
    let flac = dir.path().join("t.flac");
    tagged(&flac, &png, &["-c:a", "flac", "-sample_fmt", "s16"]);
    let m = read(&flac);
    assert_eq!(m.container, "flac");
    assert_common_tags(&m, &png, "image/png");
    assert_eq!(m.tags.track_total, Some(5));
    assert_eq!(m.tags.disc_number, Some(1));
    assert_eq!(m.tags.date.as_deref(), Some("1959-08-17"));
    assert_eq!(m.bits_per_sample, Some(16));
    assert_eq!(
        m.cover_art.as_ref().unwrap().usage.as_deref(),
        Some("front-cover")
    );
    let seconds = m.duration_seconds.unwrap();
    assert!((seconds - 2.5).abs() < 0.001, "{seconds}");
}

#[test]
fn mp3_id3v2_and_apic_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jpg) = covers(dir.path());
    let mp3 = dir.path().join("t.mp3");
    tagged(
        &mp3,
        &jpg,
        &["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "3"],
    );
    let m = read(&mp3);
    assert_eq!(m.container, "mp3");
    assert_common_tags(&m, &jpg, "image/jpeg");
    assert_eq!(m.bits_per_sample, None, "lossy codecs have no bit depth");
    let seconds = m.duration_seconds.unwrap();
    // LAME writes a Xing/Info header with encoder delay and padding: the duration is exact.
    assert!((seconds - 2.5).abs() < 0.03, "{seconds}");
}

#[test]
fn m4a_alac_ilst_and_covr_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (png, _) = covers(dir.path());
    let m4a = dir.path().join("t.m4a");
    tagged(&m4a, &png, &["-c:a", "alac", "-sample_fmt", "s16p"]);
    let m = read(&m4a);
    assert_eq!(m.container, "isomp4");
    assert_common_tags(&m, &png, "image/png");
    assert_eq!(m.tags.track_total, Some(5));
    assert_eq!(m.bits_per_sample, Some(16));
    let seconds = m.duration_seconds.unwrap();
    assert!((seconds - 2.5).abs() < 0.03, "{seconds}");
}

#[test]
fn m4a_aac_tags_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jpg) = covers(dir.path());
    let m4a = dir.path().join("t.m4a");
    tagged(&m4a, &jpg, &["-c:a", "aac", "-b:a", "96k"]);
    let m = read(&m4a);
    assert_common_tags(&m, &jpg, "image/jpeg");
}

#[test]
fn untagged_wav_has_stream_facts_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("t.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000:duration=1",
        "-ac",
        "1",
        "-c:a",
        "pcm_s24le",
        "-fflags",
        "+bitexact",
        "-map_metadata",
        "-1",
        wav.to_str().unwrap(),
    ]);
    let m = read(&wav);
    assert_eq!(m.tags, Tags::default());
    assert_eq!(m.cover_art, None);
    assert_eq!(m.sample_rate, Some(48_000));
    assert_eq!(m.channels, Some(1));
    assert_eq!(m.bits_per_sample, Some(24));
    assert!((m.duration_seconds.unwrap() - 1.0).abs() < 1e-9);
}

#[test]
fn json_for_the_media_row_leaves_the_cover_bytes_out() {
    let dir = tempfile::tempdir().unwrap();
    let (png, _) = covers(dir.path());
    let flac = dir.path().join("t.flac");
    tagged(&flac, &png, &["-c:a", "flac"]);
    let m = read(&flac);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["tags"]["title"], "Blue in Green");
    assert_eq!(json["cover_art"]["media_type"], "image/png");
    assert!(json["cover_art"].get("data").is_none());
    let back: AudioMetadata = serde_json::from_value(json).unwrap();
    assert_eq!(back.tags, m.tags);
    assert!(back.cover_art.unwrap().data.is_empty());
}

#[test]
fn decoder_front_end_gives_the_same_metadata_from_its_own_probe() {
    let dir = tempfile::tempdir().unwrap();
    let (png, _) = covers(dir.path());
    let flac = dir.path().join("t.flac");
    tagged(&flac, &png, &["-c:a", "flac"]);
    let mut source = super::super::decode::open(Box::new(std::fs::File::open(&flac).unwrap())).unwrap();
    let from_decoder = source.metadata().unwrap();
    assert_eq!(from_decoder, read(&flac));
    // Decoding still works afterwards.
    assert!(source.next_chunk().unwrap().is_some());
}

#[test]
fn leading_year_reads_only_four_leading_digits() {
    assert_eq!(leading_year("1959"), Some(1959));
    assert_eq!(leading_year(" 1959-08-17T10:00"), Some(1959));
    assert_eq!(leading_year("59"), None);
    assert_eq!(leading_year("août 1959"), None);
    assert_eq!(leading_year("é"), None);
}

#[test]
fn overlong_tag_values_are_cut_at_a_character_boundary() {
    let mut field = None;
    let long = Arc::new("é".repeat(MAX_TAG_BYTES));
    set_text(&mut field, &long);
    let value = field.unwrap();
    assert!(value.len() <= MAX_TAG_BYTES);
    assert!(value.chars().all(|c| c == 'é'));
}

#[test]
fn damaged_and_foreign_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (png, jpg) = covers(dir.path());
    let mut samples = Vec::new();
    for (name, cover, args) in [
        ("t.flac", &png, vec!["-c:a", "flac"]),
        ("t.mp3", &jpg, vec!["-c:a", "libmp3lame"]),
        ("t.m4a", &png, vec!["-c:a", "aac"]),
    ] {
        let path = dir.path().join(name);
        tagged(&path, cover, &args);
        samples.push(std::fs::read(&path).unwrap());
    }
    let mut corpus: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("zeros".into(), vec![0; 4096]),
        ("text".into(), b"hello, this is not audio at all\n".repeat(100)),
        ("png".into(), std::fs::read(&png).unwrap()),
        (
            "id3 header only".into(),
            b"ID3\x03\x00\x00\x7f\x7f\x7f\x7f".to_vec(),
        ),
        ("flac magic only".into(), b"fLaC".to_vec()),
    ];
    // Every file cut at several points, and with its header region scrambled.
    for (i, bytes) in samples.iter().enumerate() {
        for cut in [4, 11, 64, 200, 1000, bytes.len() / 2] {
            corpus.push((
                format!("sample {i} cut at {cut}"),
                bytes[..cut.min(bytes.len())].to_vec(),
            ));
        }
        for seed in 0..8u32 {
            let mut scrambled = bytes.clone();
            let mut x = 0x9e37_79b9u32 ^ seed;
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = (x as usize) % scrambled.len().min(2048);
                scrambled[at] = (x >> 8) as u8;
            }
            corpus.push((format!("sample {i} scrambled {seed}"), scrambled));
        }
    }
    let mut errors = 0;
    for (name, bytes) in corpus {
        // Whatever happens, it must be a value or an error: a panic fails the test.
        match read_metadata(Box::new(std::io::Cursor::new(bytes))) {
            Ok(m) => println!("{name}: read {:?}", m.tags.title),
            Err(e) => {
                errors += 1;
                println!("{name}: {} ({e})", e.code());
                assert!(
                    matches!(
                        e.code().as_str(),
                        "unsupported-format" | "corrupt-media" | "unsupported-codec"
                    ),
                    "{name}: {e}"
                );
            }
        }
    }
    assert!(errors >= 6, "the plainly foreign files must be refused");
}

#[test]
fn ogg_opus_and_vorbis_comments_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (name, codec) in [("t.opus", "libopus"), ("t.ogg", "libvorbis")] {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
            "-c:a",
            codec,
            "-metadata",
            "title=So What",
            "-metadata",
            "artist=Miles Davis",
            "-metadata",
            "track=1",
            "-metadata",
            "date=1959",
            path.to_str().unwrap(),
        ]);
        let m = read(&path);
        assert_eq!(m.container, "ogg", "{name}");
        assert_eq!(m.tags.title.as_deref(), Some("So What"), "{name}");
        assert_eq!(m.tags.artist.as_deref(), Some("Miles Davis"), "{name}");
        assert_eq!(m.tags.track_number, Some(1), "{name}");
        assert_eq!(m.tags.year, Some(1959), "{name}");
        assert_eq!(m.tags.date, None, "a bare year is not repeated as a date");
        assert_eq!(m.sample_rate, Some(48_000), "{name}");
        assert_eq!(m.channels, Some(1), "{name}");
        let seconds = m.duration_seconds.unwrap();
        assert!((seconds - 2.0).abs() < 0.001, "{name}: {seconds} s");
    }
}

fn visual(declared: &str, data: &[u8]) -> Visual {
    Visual {
        media_type: Some(declared.to_owned()),
        dimensions: None,
        color_mode: None,
        usage: Some(StandardVisualKey::FrontCover),
        tags: Vec::new(),
        data: data.into(),
    }
}

#[test]
fn a_covers_type_comes_from_its_bytes_not_its_tag() {
    let dir = tempfile::tempdir().unwrap();
    let png = std::fs::read(covers(dir.path()).0).unwrap();
    let cover = pick_cover(vec![visual("image/svg+xml", &png)]).unwrap();
    assert_eq!(cover.media_type, "image/png");
}

#[test]
fn a_cover_that_is_not_an_allowed_image_is_dropped() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    assert_eq!(pick_cover(vec![visual("image/jpeg", svg)]), None);
    assert_eq!(pick_cover(vec![visual("image/svg+xml", svg)]), None);
}
