//! End-to-end tests: synthesize inputs, transcode, and check the HLS output with ffprobe/ffmpeg.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use veza_jobs::transcode::{
    AudioCodec, HlsPart, MASTER_PLAYLIST, Rendition, Resume, TranscodeError, TranscodeSettings,
    TranscodeSummary, Variant, init_file_name, master_playlist, media_playlist, playlist_file_name,
    segment_file_name, transcode_audio,
};

/// One rendition of each codec keeps the tests quick; the full default ladder runs in
/// `stereo_44k1_wav_13s`.
fn settings() -> TranscodeSettings {
    TranscodeSettings {
        ladder: Rendition::parse_ladder("aac:160,opus:128").unwrap(),
        segment_seconds: 6.0,
        max_duration_seconds: 3600.0,
        ..TranscodeSettings::default()
    }
}

#[derive(Clone, Copy)]
enum Fmt {
    I16,
    I24,
    I32,
    F32,
}

fn write_sine_wav(path: &Path, rate: u32, channels: u16, seconds: f64, fmt: Fmt) {
    let (bits, sample_format) = match fmt {
        Fmt::I16 => (16, hound::SampleFormat::Int),
        Fmt::I24 => (24, hound::SampleFormat::Int),
        Fmt::I32 => (32, hound::SampleFormat::Int),
        Fmt::F32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let frames = (seconds * f64::from(rate)).round() as u64;
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        for c in 0..channels {
            let f = 440.0 * (1.0 + f64::from(c) * 0.5);
            let v = 0.5 * (2.0 * std::f64::consts::PI * f * t).sin();
            match fmt {
                Fmt::I16 => w.write_sample((v * 32767.0) as i16).unwrap(),
                Fmt::I24 => w.write_sample((v * 8_388_607.0) as i32).unwrap(),
                Fmt::I32 => w.write_sample((v * 2_147_483_647.0) as i32).unwrap(),
                Fmt::F32 => w.write_sample(v as f32).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

/// Transcode `input` into `out_dir` as the job lays it out (per rendition: init, segments, media
/// playlist; then the master playlist). Returns the summary and the first rendition's segment
/// durations as the sink saw them.
fn transcode_to_dir(
    input: &Path,
    out_dir: &Path,
    s: &TranscodeSettings,
) -> Result<(TranscodeSummary, Vec<(u32, f64)>), TranscodeError> {
    fs::create_dir_all(out_dir).unwrap();
    let names: Vec<String> = s.ladder.iter().map(Rendition::name).collect();
    let mut segs: Vec<Vec<(u32, f64)>> = vec![Vec::new(); names.len()];
    let mut saw_init = vec![false; names.len()];
    let summary = {
        let mut sink = |part: HlsPart| -> Result<(), TranscodeError> {
            match part {
                HlsPart::Started {
                    expected_seconds,
                    resumed_segments,
                    ..
                } => {
                    assert!(saw_init.iter().all(|s| !s), "started after an init");
                    assert!(expected_seconds.is_none_or(|s| s > 0.0));
                    assert_eq!(resumed_segments, 0);
                }
                HlsPart::Init { rendition, bytes } => {
                    assert!(!saw_init[rendition], "init emitted twice");
                    saw_init[rendition] = true;
                    fs::write(out_dir.join(init_file_name(&names[rendition])), &bytes).unwrap();
                }
                HlsPart::Segment {
                    rendition,
                    index,
                    bytes,
                    duration_seconds,
                } => {
                    assert!(saw_init[rendition], "segment before init");
                    assert_eq!(index as usize, segs[rendition].len());
                    fs::write(out_dir.join(segment_file_name(&names[rendition], index)), &bytes).unwrap();
                    segs[rendition].push((index, duration_seconds));
                }
            }
            Ok(())
        };
        let file = fs::File::open(input).unwrap();
        // Two threads: the renditions encode in parallel, as on a worker with a free core.
        transcode_audio(file, s, &Resume::default(), &mut sink, &|| false, 2)?
    };
    let mut variants = Vec::new();
    for (r, rendition) in summary.renditions.iter().enumerate() {
        let seen: Vec<f64> = segs[r].iter().map(|s| s.1).collect();
        assert_eq!(
            seen, rendition.segment_durations,
            "summary matches what the sink saw"
        );
        let name = rendition.rendition.name();
        fs::write(
            out_dir.join(playlist_file_name(&name)),
            media_playlist(&name, &rendition.segment_durations),
        )
        .unwrap();
        variants.push(Variant {
            rendition: name,
            bandwidth: rendition.peak_bitrate_bps,
            average_bandwidth: rendition.average_bitrate_bps,
            codecs: rendition.rendition.codecs_attr().into(),
            picture: None,
        });
    }
    fs::write(out_dir.join(MASTER_PLAYLIST), master_playlist(&variants)).unwrap();
    Ok((summary, segs.swap_remove(0)))
}

/// The media playlist of the first rendition of `codec` in `dir`.
fn rendition_playlist(dir: &Path, codec: &str) -> PathBuf {
    let master = fs::read_to_string(dir.join(MASTER_PLAYLIST)).unwrap();
    let uri = master
        .lines()
        .find(|l| l.starts_with(codec) && l.ends_with(".m3u8"))
        .unwrap_or_else(|| panic!("no {codec} rendition in\n{master}"));
    dir.join(uri)
}

fn ffprobe(playlist: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-allowed_extensions",
            "ALL",
            "-show_entries",
            "format=duration:stream=codec_name,sample_rate,channels",
            "-of",
            "json",
        ])
        .arg(playlist)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    println!("ffprobe {}:\n{text}", playlist.display());
    serde_json::from_str(&text).unwrap()
}

/// Decode the playlist with ffmpeg to interleaved i16; asserts ffmpeg printed no errors.
fn ffmpeg_decode(playlist: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-allowed_extensions", "ALL", "-i"])
        .arg(playlist)
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Lag (in 48 kHz samples) that best aligns `channel` of the decoded audio, after its first
/// `skip` frames, with the test sine.
fn best_lag_after(pcm: &[i16], skip: usize, channels: usize, channel: usize, freq: f64) -> (i64, f64) {
    let pcm = &pcm[skip * channels..];
    let start = 48_000; // skip the first second; compare one second of steady tone
    let mut best = (0i64, f64::MIN);
    for lag in -100i64..=100 {
        let mut dot = 0.0;
        for i in start..start + 48_000 {
            let t = (i as i64 - lag) as f64 / 48_000.0;
            let reference = (2.0 * std::f64::consts::PI * freq * t).sin();
            dot += f64::from(pcm[i * channels + channel]) * reference;
        }
        if dot > best.1 {
            best = (lag, dot);
        }
    }
    // Normalised correlation: 1.0 = identical shape and 0.5 amplitude.
    (best.0, best.1 / 48_000.0 / 32767.0 / 0.25)
}

/// Decode the playlist with ffmpeg; asserts no errors and returns decoded stereo/mono frame count.
fn ffmpeg_decode_frames(playlist: &Path, channels: u64) -> u64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-allowed_extensions", "ALL", "-i"])
        .arg(playlist)
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "ffmpeg printed errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len() as u64 / (2 * channels)
}

/// The edit list's `media_time` in an init segment: the priming samples a player must skip.
fn elst_media_time(init: &[u8]) -> u64 {
    let at = init.windows(4).position(|w| w == b"elst").expect("an edit list");
    let body = &init[at + 4..];
    let version = body[0];
    // version/flags (4), entry_count (4), then segment_duration and media_time.
    let field = |offset: usize, len: usize| {
        body[offset..offset + len]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    };
    if version == 1 { field(16, 8) } else { field(12, 4) }
}

/// Samples of priming that ffmpeg leaves in when it decodes `playlist`: it honours Opus's
/// pre-skip (from `dOps`) but not the edit list of AAC in fragmented MP4, so for AAC the
/// decoded audio starts with the encoder delay the edit list names.
fn untrimmed_priming(playlist: &Path) -> u64 {
    let text = fs::read_to_string(playlist).unwrap();
    let init = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let init = fs::read(playlist.with_file_name(init)).unwrap();
    if init.windows(4).any(|w| w == b"esds") {
        elst_media_time(&init)
    } else {
        0
    }
}

/// Every rendition named by the master playlist: ffprobe sees its codec at 48 kHz with the
/// expected channels, and ffmpeg decodes it to the source's duration (priming that ffmpeg does
/// not trim, see [`untrimmed_priming`], accounted for; the tail padding is under 22 ms).
fn check_output(dir: &Path, expect_channels: u64, expect_seconds: f64) {
    let master = fs::read_to_string(dir.join(MASTER_PLAYLIST)).unwrap();
    let mut checked = 0;
    for (inf, uri) in master.lines().zip(master.lines().skip(1)) {
        let Some(attrs) = inf.strip_prefix("#EXT-X-STREAM-INF:") else {
            continue;
        };
        let codec = if attrs.contains("CODECS=\"Opus\"") {
            "opus"
        } else {
            assert!(attrs.contains("CODECS=\"mp4a.40.2\""), "{attrs}");
            "aac"
        };
        let playlist = dir.join(uri);
        let v = ffprobe(&playlist);
        let stream = &v["streams"][0];
        assert_eq!(stream["codec_name"], codec, "{uri}");
        assert_eq!(stream["sample_rate"], "48000");
        assert_eq!(stream["channels"], expect_channels);
        let dur: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(
            (dur - expect_seconds).abs() < 0.1,
            "{uri}: duration {dur} vs {expect_seconds}"
        );
        let frames = ffmpeg_decode_frames(&playlist, expect_channels);
        let priming = untrimmed_priming(&playlist);
        let decoded = (frames - priming) as f64 / 48_000.0;
        println!("{uri}: ffmpeg decoded {frames} frames, {priming} of them priming = {decoded:.5} s");
        assert!(
            (decoded - expect_seconds).abs() < 0.03,
            "{uri}: decoded {decoded} s vs {expect_seconds}"
        );
        checked += 1;
    }
    assert!(checked > 0, "no variant in\n{master}");
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn stereo_44k1_wav_13s() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 13.0, Fmt::I16);
    let out = dir.path().join("hls");
    let started = Instant::now();
    let full = TranscodeSettings {
        ladder: Rendition::default_ladder(),
        ..settings()
    };
    let (summary, _) = transcode_to_dir(&wav, &out, &full).unwrap();
    let took = started.elapsed().as_secs_f64();
    println!(
        "summary: {summary:?}\n{:.1}x realtime for the whole ladder ({took:.3} s wall)",
        13.0 / took
    );
    let master = fs::read_to_string(out.join(MASTER_PLAYLIST)).unwrap();
    println!("{master}");
    assert!((summary.duration_seconds - 13.0).abs() < 1e-3);
    assert_eq!(summary.sample_rate_in, 44_100);
    assert_eq!(summary.channels_in, 2);
    assert_eq!(summary.renditions.len(), 4);
    for r in &summary.renditions {
        let name = r.rendition.name();
        let segs = &r.segment_durations;
        assert_eq!(segs.len(), 3, "{name}: {segs:?}");
        let total: f64 = segs.iter().sum();
        assert!((total - 13.0).abs() < 1e-3, "{name}: EXTINF sum {total}");
        // Boundaries at 6 s and 12 s in every rendition, each to within one packet.
        assert!(
            (segs[0] - 6.0).abs() < 0.022 && (segs[0] + segs[1] - 12.0).abs() < 0.022,
            "{name}: {segs:?}"
        );
        // BANDWIDTH is the peak rate with container overhead: above the codec's bitrate
        // (Opus is VBR: allow it to dip on a pure tone), and not wildly so.
        let kbps = r.rendition.bitrate_bps as f64 / 1000.0;
        let peak = r.peak_bitrate_bps as f64 / 1000.0;
        let floor = if r.rendition.codec == AudioCodec::Aac {
            1.0
        } else {
            0.5
        };
        assert!(
            peak > kbps * floor && peak < kbps * 1.6,
            "{name}: peak {peak} kbps"
        );
        assert!(r.average_bitrate_bps <= r.peak_bitrate_bps);
        let playlist = fs::read_to_string(out.join(playlist_file_name(&name))).unwrap();
        assert!(playlist.contains("#EXT-X-TARGETDURATION:6\n"), "{playlist}");
        let init = fs::read(out.join(init_file_name(&name))).unwrap();
        assert!(init.windows(4).any(|w| w == b"elst"), "edit list present");
        let entry: &[u8] = if r.rendition.codec == AudioCodec::Aac {
            b"esds"
        } else {
            b"dOps"
        };
        assert!(init.windows(4).any(|w| w == entry));
        assert!(
            master.contains(&format!(
                "BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{name}.m3u8",
                r.peak_bitrate_bps,
                r.average_bitrate_bps,
                r.rendition.codecs_attr()
            )),
            "{master}"
        );
    }
    check_output(&out, 2, 13.0);
    // Timing: after priming and resampler-delay trimming the tone must line up with t=0 in
    // every codec, and each channel must keep its own frequency (440 Hz left, 660 Hz right).
    for codec in ["opus", "aac"] {
        let playlist = rendition_playlist(&out, codec);
        let pcm = ffmpeg_decode(&playlist);
        let skip = untrimmed_priming(&playlist) as usize;
        let (lag_l, corr_l) = best_lag_after(&pcm, skip, 2, 0, 440.0);
        let (lag_r, corr_r) = best_lag_after(&pcm, skip, 2, 1, 660.0);
        println!("{codec} alignment: left lag {lag_l} corr {corr_l:.3}, right lag {lag_r} corr {corr_r:.3}");
        assert!(lag_l.abs() <= 2 && lag_r.abs() <= 2, "{codec}");
        assert!(corr_l > 0.9 && corr_r > 0.9, "{codec}");
    }
}

/// Splitting the renditions over threads changes when they run, never what they write.
#[test]
fn renditions_are_the_same_bytes_on_one_thread_and_on_three() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 4.0, Fmt::I16);
    let s = TranscodeSettings {
        ladder: Rendition::default_ladder(),
        segment_seconds: 1.0,
        ..settings()
    };
    let run = |threads: usize| {
        let mut parts = Vec::new();
        transcode_audio(
            fs::File::open(&wav).unwrap(),
            &s,
            &Resume::default(),
            &mut |part| {
                match part {
                    HlsPart::Started { .. } => {}
                    HlsPart::Init { rendition, bytes } => parts.push((rendition, None, bytes.to_vec())),
                    HlsPart::Segment {
                        rendition,
                        index,
                        bytes,
                        ..
                    } => parts.push((rendition, Some(index), bytes.to_vec())),
                }
                Ok(())
            },
            &|| false,
            threads,
        )
        .unwrap();
        parts.sort();
        parts
    };
    let one = run(1);
    // 4 renditions, each an init and 4 or 5 one-second segments.
    assert!(one.len() >= 4 * 5, "{} parts", one.len());
    assert!(one == run(3), "the parts differ between one thread and three");
}

#[test]
fn mono_22050_wav_stays_mono() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 22_050, 1, 4.5, Fmt::I16);
    let out = dir.path().join("hls");
    let (summary, segs) = transcode_to_dir(&wav, &out, &settings()).unwrap();
    assert_eq!(summary.channels_in, 1);
    assert_eq!(segs.len(), 1);
    check_output(&out, 1, 4.5);
}

#[test]
fn wav_sample_formats_24_32_float_48k() {
    for (fmt, rate) in [(Fmt::I24, 96_000), (Fmt::I32, 48_000), (Fmt::F32, 44_100)] {
        let dir = tmp();
        let wav = dir.path().join("in.wav");
        write_sine_wav(&wav, rate, 2, 2.0, fmt);
        let out = dir.path().join("hls");
        let (summary, _) = transcode_to_dir(&wav, &out, &settings()).unwrap();
        assert_eq!(summary.sample_rate_in, rate);
        check_output(&out, 2, 2.0);
    }
}

#[test]
fn surround_5_1_is_downmixed_to_stereo() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 48_000, 6, 2.0, Fmt::I16);
    let out = dir.path().join("hls");
    let (summary, _) = transcode_to_dir(&wav, &out, &settings()).unwrap();
    assert_eq!(summary.channels_in, 6);
    check_output(&out, 2, 2.0);
}

/// Convert a generated WAV with the ffmpeg CLI (test-only) into another format.
fn ffmpeg_convert(wav: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(wav)
        .args(extra)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    out.to_path_buf()
}

#[test]
fn flac_mp3_vorbis_inputs() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 7.0, Fmt::I16);
    // Names without the right extension: the content decides.
    for (name, extra, codec) in [
        (
            "flac.bin",
            vec!["-f", "flac", "-metadata", "title=Veza", "-metadata", "artist=Ada"],
            "flac",
        ),
        (
            "mp3.bin",
            vec!["-f", "mp3", "-c:a", "libmp3lame", "-b:a", "192k"],
            "mp3",
        ),
        ("vorbis.bin", vec!["-f", "ogg", "-c:a", "libvorbis"], "vorbis"),
        (
            "opus.bin",
            vec!["-f", "ogg", "-c:a", "libopus", "-b:a", "128k"],
            "opus",
        ),
        ("aac.bin", vec!["-f", "mp4", "-c:a", "aac", "-b:a", "192k"], "aac"),
        ("alac.bin", vec!["-f", "mp4", "-c:a", "alac"], "alac"),
        ("aiff.bin", vec!["-f", "aiff"], "pcm_s16be"),
    ] {
        let src = ffmpeg_convert(&wav, &dir.path().join(name), &extra);
        let out = dir.path().join(format!("hls-{name}"));
        let (summary, segs) = transcode_to_dir(&src, &out, &settings()).unwrap();
        println!("{name}: {summary:?}");
        assert_eq!(summary.source_codec, codec, "{name}");
        assert_eq!(segs.len(), 2, "{name}");
        if codec == "flac" {
            assert_eq!(summary.metadata.tags.title.as_deref(), Some("Veza"));
            assert_eq!(summary.metadata.tags.artist.as_deref(), Some("Ada"));
        }
        // MP3 without gapless info may carry encoder delay/padding; allow ~60 ms there.
        check_output(&out, 2, summary.duration_seconds);
        assert!(
            (summary.duration_seconds - 7.0).abs() < 0.06,
            "{name}: {}",
            summary.duration_seconds
        );
    }
}

/// EBU R128 integrated loudness and true peak of `file` as ffmpeg's ebur128 filter measures them.
fn ffmpeg_loudness(file: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(file)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = &log[log.rfind("Summary:").unwrap()..];
    let value = |label: &str| -> f64 {
        let at = summary.find(label).unwrap() + label.len();
        summary[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    (value("I:"), value("Peak:"))
}

#[test]
fn loudness_gain_and_waveform_of_a_known_signal() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 5.0, Fmt::I16);
    let out = dir.path().join("hls");
    let (summary, _) = transcode_to_dir(&wav, &out, &settings()).unwrap();
    let (integrated, peak) = ffmpeg_loudness(&wav);
    let ours = summary.loudness.integrated_lufs.unwrap();
    println!(
        "loudness: ours {:?}, ffmpeg I {integrated} LUFS, peak {peak} dBTP",
        summary.loudness
    );
    assert!((ours - integrated).abs() < 0.5, "{ours} vs {integrated}");
    let true_peak = summary.loudness.true_peak_dbtp.unwrap();
    assert!((true_peak - peak).abs() < 0.5, "{true_peak} vs {peak}");
    // Toward -14 LUFS, but the true peak after the gain stays at or below -1 dBTP.
    let gain = summary.playback_gain_db;
    assert!(
        gain <= -14.0 - ours + 1e-9 && true_peak + gain <= -1.0 + 1e-9,
        "gain {gain}"
    );
    assert!(
        (gain - (-14.0 - ours).min(-1.0 - true_peak)).abs() < 0.011,
        "gain {gain}"
    );
    // 5 s at 44.1 kHz, 256 samples per pixel, channels merged (averaged): the two half-scale
    // tones never exceed half scale (8-bit: 64) together, and reach well above a quarter.
    let waveform = &summary.waveform;
    assert_eq!(waveform.sample_rate, 44_100);
    assert_eq!(waveform.length, (5 * 44_100u32).div_ceil(256));
    let max = waveform.data.iter().copied().max().unwrap();
    let min = waveform.data.iter().copied().min().unwrap();
    assert!(
        (40..=64).contains(&max) && (-65..=-40).contains(&min),
        "max {max}, min {min}"
    );
}

fn run_bytes(bytes: &[u8]) -> Result<TranscodeSummary, TranscodeError> {
    let dir = tmp();
    let p = dir.path().join("in.bin");
    fs::write(&p, bytes).unwrap();
    let file = fs::File::open(&p).unwrap();
    transcode_audio(
        file,
        &settings(),
        &Resume::default(),
        &mut |_| Ok(()),
        &|| false,
        1,
    )
}

fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

/// A canonical 44-byte PCM WAV header.
fn wav_header(channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels.wrapping_mul(bits / 8);
    let byte_rate = rate.wrapping_mul(u32::from(block_align));
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&byte_rate.to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

fn expect_err(name: &str, bytes: &[u8], codes: &[&str]) {
    let r = run_bytes(bytes);
    match r {
        Ok(s) => panic!("{name}: unexpectedly succeeded: {s:?}"),
        Err(e) => {
            println!("{name}: {} ({e}), permanent={}", e.code(), e.is_permanent());
            assert!(codes.contains(&e.code().as_str()), "{name}: got {}", e.code());
            assert!(e.is_permanent());
        }
    }
}

#[test]
fn bad_inputs_return_errors() {
    expect_err("empty", &[], &["unsupported-format", "corrupt-media"]);
    expect_err(
        "random",
        &noise(64 * 1024, 1),
        &["unsupported-format", "corrupt-media"],
    );
    let mut riff_noise = b"RIFF\x00\x00\x01\x00WAVE".to_vec();
    riff_noise.extend(noise(16 * 1024, 2));
    expect_err(
        "riff+random",
        &riff_noise,
        &["corrupt-media", "unsupported-format"],
    );

    let good = wav_header(2, 44_100, 16, 44_100 * 4);
    expect_err(
        "half header",
        &good[..22],
        &["corrupt-media", "unsupported-format"],
    );
    expect_err("header only, no data", &good, &["corrupt-media"]);

    for (name, ch, rate) in [
        ("zero channels", 0u16, 44_100u32),
        ("zero rate", 2, 0),
        ("ten MHz", 2, 10_000_000),
        ("huge channels", 5000, 44_100),
    ] {
        let mut f = wav_header(ch, rate, 16, 8192);
        f.extend(noise(8192, 3));
        expect_err(name, &f, &["corrupt-media", "unsupported-codec"]);
    }
}

#[test]
fn valid_header_with_random_pcm_is_just_noise() {
    // A well-formed header followed by random samples *is* valid PCM (white noise); it must not
    // panic and should transcode. Documented rather than forced into an error.
    let mut f = wav_header(2, 44_100, 16, 64 * 1024);
    f.extend(noise(64 * 1024, 4));
    let r = run_bytes(&f);
    println!("header+random pcm: {r:?}");
    assert!(r.is_ok());
}

#[test]
fn truncated_wav_keeps_decoded_audio() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 3.0, Fmt::I16);
    let bytes = fs::read(&wav).unwrap();
    let cut = &bytes[..bytes.len() / 2 + 1];
    let r = run_bytes(cut);
    println!("truncated wav: {r:?}");
    let s = r.unwrap();
    assert!((s.duration_seconds - 1.5).abs() < 0.05);
}

#[test]
fn fuzz_mutated_headers_never_panic() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 0.5, Fmt::I16);
    let flac = ffmpeg_convert(&wav, &dir.path().join("in.flac"), &[]);
    let mp3 = ffmpeg_convert(&wav, &dir.path().join("in.mp3"), &[]);
    let ogg = ffmpeg_convert(&wav, &dir.path().join("in.ogg"), &["-c:a", "libvorbis"]);
    for (i, src) in [wav, flac, mp3, ogg].iter().enumerate() {
        let orig = fs::read(src).unwrap();
        for round in 0..40u64 {
            let mut b = orig.clone();
            let n = noise(16, round * 7 + i as u64);
            let span = b.len().min(200);
            for k in (0..n.len()).step_by(2) {
                let pos = usize::from(n[k]) * span / 256;
                b[pos] = n[k + 1];
            }
            // Must return (Ok or Err) — a panic fails the test.
            let _ = run_bytes(&b);
        }
    }
}

#[test]
fn too_long_and_cancel() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 3.0, Fmt::I16);
    let s = TranscodeSettings {
        max_duration_seconds: 2.0,
        ..settings()
    };
    let none = Resume::default();
    let e = transcode_audio(
        fs::File::open(&wav).unwrap(),
        &s,
        &none,
        &mut |_| Ok(()),
        &|| false,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "too-long");

    let s = TranscodeSettings {
        segment_seconds: 1.0,
        ..settings()
    };
    let mut emitted = 0u32;
    let counter = std::sync::atomic::AtomicU32::new(0);
    let e = transcode_audio(
        fs::File::open(&wav).unwrap(),
        &s,
        &none,
        &mut |p| {
            if matches!(p, HlsPart::Segment { .. }) {
                emitted += 1;
            }
            Ok(())
        },
        &|| counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 > 2,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "cancelled");
    assert_eq!(emitted, 1);

    let bad = TranscodeSettings {
        ladder: vec![Rendition::new(AudioCodec::Opus, 0)],
        ..settings()
    };
    let e = transcode_audio(
        fs::File::open(&wav).unwrap(),
        &bad,
        &none,
        &mut |_| Ok(()),
        &|| false,
        1,
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "invalid-settings");
}

#[test]
fn playlist_format() {
    let p = media_playlist("opus-128k", &[6.0135, 6.0, 1.0065]);
    assert_eq!(
        p,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"opus-128k-init.mp4\"\n\
         #EXTINF:6.01350,\nopus-128k-00000.m4s\n#EXTINF:6.00000,\nopus-128k-00001.m4s\n\
         #EXTINF:1.00650,\nopus-128k-00002.m4s\n#EXT-X-ENDLIST\n"
    );
    assert_eq!(segment_file_name("aac-160k", 12), "aac-160k-00012.m4s");
    let m = master_playlist(&[Variant {
        rendition: "aac-160k".into(),
        bandwidth: 171_000,
        average_bandwidth: 165_000,
        codecs: "mp4a.40.2".into(),
        picture: None,
    }]);
    assert_eq!(
        m,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=171000,AVERAGE-BANDWIDTH=165000,CODECS=\"mp4a.40.2\"\naac-160k.m3u8\n"
    );
}

#[test]
fn odd_sample_rates() {
    for rate in [8_000u32, 11_025, 44_101, 192_000] {
        let dir = tmp();
        let wav = dir.path().join("in.wav");
        write_sine_wav(&wav, rate, 2, 1.5, Fmt::I16);
        let out = dir.path().join("hls");
        let (summary, _) = transcode_to_dir(&wav, &out, &settings()).unwrap();
        assert!((summary.duration_seconds - 1.5).abs() < 1e-3, "{rate}");
        check_output(&out, 2, 1.5);
    }
}

/// Every part one run handed to its sink: per rendition its init and its segments
/// `(index, bytes, #EXTINF)`, and how many segments it took over from the resume.
#[derive(Default)]
struct Parts {
    inits: Vec<Vec<u8>>,
    segments: Vec<Vec<(u32, Vec<u8>, f64)>>,
    resumed: u32,
}

/// Runs the pipeline with `resume`; the sink fails (as storage going away would) once it has
/// taken `segment_budget` segments.
fn run_parts(
    input: &Path,
    s: &TranscodeSettings,
    resume: &Resume,
    segment_budget: usize,
) -> (Result<TranscodeSummary, TranscodeError>, Parts) {
    let mut parts = Parts {
        inits: vec![Vec::new(); s.ladder.len()],
        segments: vec![Vec::new(); s.ladder.len()],
        resumed: 0,
    };
    let mut taken = 0;
    let result = transcode_audio(
        fs::File::open(input).unwrap(),
        s,
        resume,
        &mut |part| {
            match part {
                HlsPart::Started { resumed_segments, .. } => parts.resumed = resumed_segments,
                HlsPart::Init { rendition, bytes } => parts.inits[rendition] = bytes.to_vec(),
                HlsPart::Segment {
                    rendition,
                    index,
                    bytes,
                    duration_seconds,
                } => {
                    if taken == segment_budget {
                        return Err(TranscodeError::Sink("the worker died".into()));
                    }
                    taken += 1;
                    parts.segments[rendition].push((index, bytes.to_vec(), duration_seconds));
                }
            }
            Ok(())
        },
        &|| false,
        // One thread: which segment the sink refuses must not depend on thread timing.
        1,
    );
    (result, parts)
}

/// Writes one rendition as the job lays it out: init, segments, media playlist.
fn write_rendition(dir: &Path, name: &str, init: &[u8], segments: &[(u32, Vec<u8>, f64)], durations: &[f64]) {
    fs::write(dir.join(init_file_name(name)), init).unwrap();
    for (index, bytes, _) in segments {
        fs::write(dir.join(segment_file_name(name, *index)), bytes).unwrap();
    }
    fs::write(
        dir.join(playlist_file_name(name)),
        media_playlist(name, durations),
    )
    .unwrap();
}

/// A box's payload (after its version and flags) in an fMP4 fragment, found by its type.
fn full_box<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> (u8, &'a [u8]) {
    let at = bytes.windows(4).position(|w| w == kind).expect("the box");
    (bytes[at + 4], &bytes[at + 8..])
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// `tfdt` base media decode time and `trun` sample count of a segment.
fn timing(segment: &[u8]) -> (u64, u64) {
    let (version, tfdt) = full_box(segment, b"tfdt");
    let decode_time = if version == 1 {
        be(&tfdt[..8])
    } else {
        be(&tfdt[..4])
    };
    let (_, trun) = full_box(segment, b"trun");
    (decode_time, be(&trun[..4]))
}

/// Signal-to-difference ratio in dB of `b` against `a` over interleaved samples `range`.
fn snr_db(a: &[i16], b: &[i16], range: std::ops::Range<usize>) -> f64 {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for i in range {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        signal += x * x;
        noise += (x - y) * (x - y);
    }
    10.0 * (signal / noise.max(1e-9)).log10()
}

/// A job's first attempt dies after storing some segments; the rescued attempt, given what was
/// stored, makes only the rest, and the stitched result is an uninterrupted run's in every
/// timestamp and duration, decodes cleanly, and sounds the same across the seam.
#[test]
fn crash_and_resume_matches_an_uninterrupted_run() {
    let dir = tmp();
    let wav = dir.path().join("in.wav");
    write_sine_wav(&wav, 44_100, 2, 13.0, Fmt::I16);
    let s = TranscodeSettings {
        segment_seconds: 2.0,
        ..settings()
    };
    let (whole_summary, whole) = run_parts(&wav, &s, &Resume::default(), usize::MAX);
    let whole_summary = whole_summary.unwrap();
    assert_eq!(whole.segments[0].len(), 7, "13 s in 2 s segments");

    // The first attempt dies after 7 segments (of 14) reach storage.
    let (crashed, first) = run_parts(&wav, &s, &Resume::default(), 7);
    assert_eq!(crashed.unwrap_err().code().as_str(), "storage-unavailable");
    let stored: Vec<Vec<(u64, f64)>> = first
        .segments
        .iter()
        .map(|segs| segs.iter().map(|(_, b, d)| (b.len() as u64, *d)).collect())
        .collect();
    let common = stored.iter().map(Vec::len).min().unwrap() as u32;
    assert!(
        common >= 2,
        "the crash leaves segments to resume after: {stored:?}"
    );

    let (resumed_summary, second) = run_parts(
        &wav,
        &s,
        &Resume {
            stored: stored.clone(),
        },
        usize::MAX,
    );
    let resumed_summary = resumed_summary.unwrap();
    assert_eq!(
        second.resumed, common,
        "resumes after the segments every rendition stored"
    );
    assert_eq!(resumed_summary.duration_seconds, whole_summary.duration_seconds);

    let out = dir.path().join("stitched");
    fs::create_dir_all(&out).unwrap();
    let mut variants = Vec::new();
    for (r, rendition) in s.ladder.iter().enumerate() {
        let name = rendition.name();
        let made: Vec<u32> = second.segments[r].iter().map(|seg| seg.0).collect();
        assert_eq!(
            made,
            (common..whole.segments[r].len() as u32).collect::<Vec<_>>(),
            "{name}: only the missing segments are made"
        );
        // Storage holds the first attempt's segments, overwritten by the second's.
        let mut stitched = first.segments[r].clone();
        for seg in &second.segments[r] {
            match stitched.get_mut(seg.0 as usize) {
                Some(slot) => *slot = seg.clone(),
                None => stitched.push(seg.clone()),
            }
        }
        assert_eq!(stitched.len(), whole.segments[r].len(), "{name}");
        for (a, b) in whole.segments[r].iter().zip(&stitched) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.2, b.2, "{name} segment {}: #EXTINF", a.0);
            assert_eq!(
                timing(&a.1),
                timing(&b.1),
                "{name} segment {}: tfdt and sample count",
                a.0
            );
            if a.0 < common {
                assert_eq!(
                    a.1, b.1,
                    "{name} segment {}: kept as the first attempt made it",
                    a.0
                );
            }
        }
        assert_eq!(
            resumed_summary.renditions[r].segment_durations,
            whole_summary.renditions[r].segment_durations
        );
        assert_eq!(second.inits[r], whole.inits[r], "{name}: the same init segment");
        let durations = &resumed_summary.renditions[r].segment_durations;
        write_rendition(&out, &name, &second.inits[r], &stitched, durations);
        variants.push(Variant {
            rendition: name,
            bandwidth: resumed_summary.renditions[r].peak_bitrate_bps,
            average_bandwidth: resumed_summary.renditions[r].average_bitrate_bps,
            codecs: rendition.codecs_attr().into(),
            picture: None,
        });
    }
    fs::write(out.join(MASTER_PLAYLIST), master_playlist(&variants)).unwrap();
    check_output(&out, 2, 13.0);

    // Across the seam the stitched audio matches the uninterrupted run's: a cold encoder there
    // would start with a glitch.
    let whole_dir = dir.path().join("whole");
    fs::create_dir_all(&whole_dir).unwrap();
    for (r, rendition) in s.ladder.iter().enumerate() {
        let name = rendition.name();
        let durations = &whole_summary.renditions[r].segment_durations;
        write_rendition(&whole_dir, &name, &whole.inits[r], &whole.segments[r], durations);
        let a = ffmpeg_decode(&whole_dir.join(playlist_file_name(&name)));
        let b = ffmpeg_decode(&out.join(playlist_file_name(&name)));
        assert_eq!(a.len(), b.len(), "{name}: decoded lengths");
        let seam_media_time = timing(&whole.segments[r][common as usize].1).0;
        let decoded_seam = seam_media_time - elst_media_time(&whole.inits[r])
            + untrimmed_priming(&out.join(playlist_file_name(&name)));
        let seam = decoded_seam as usize * 2;
        let window = 4_800 * 2; // 100 ms of stereo
        let before = snr_db(&a, &b, seam - window..seam);
        let across = snr_db(&a, &b, seam..seam + window);
        let later = snr_db(&a, &b, seam + 10 * window..seam + 11 * window);
        println!(
            "{name}: SNR vs uninterrupted before the seam {before:.1} dB, after {across:.1} dB, 1 s later {later:.1} dB"
        );
        assert!(
            before > 90.0,
            "{name}: identical before the seam ({before:.1} dB)"
        );
        assert!(across > 20.0, "{name}: no glitch at the seam ({across:.1} dB)");
    }
}
