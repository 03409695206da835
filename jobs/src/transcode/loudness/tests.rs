//! Loudness tests: generated tones against BS.1770's arithmetic and against ffmpeg's `ebur128`
//! filter (an independent implementation) measuring the very same samples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use super::*;

/// Interleaved sine of `freq` Hz at `peak_dbfs` (peak amplitude) on every channel.
fn sine(rate: u32, channels: usize, seconds: f64, freq: f64, peak_dbfs: f64) -> Vec<f32> {
    let amplitude = 10f64.powf(peak_dbfs / 20.0);
    let frames = (seconds * f64::from(rate)).round() as usize;
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        let v = amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin();
        out.extend(std::iter::repeat_n(v as f32, channels));
    }
    out
}

fn measure(rate: u32, channels: usize, pcm: &[f32], block_frames: usize) -> Loudness {
    let mut meter = LoudnessMeter::new(rate, channels).unwrap();
    for block in pcm.chunks(block_frames * channels) {
        meter.push(block).unwrap();
    }
    meter.measurement().unwrap()
}

fn close(actual: Option<f64>, expected: f64, tolerance: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: no value"));
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual:.3} vs {expected:.3} (±{tolerance})"
    );
}

#[test]
fn stereo_1khz_sine_at_minus_20_dbfs_reads_minus_20_lufs() {
    // BS.1770 is calibrated so that a 1 kHz sine at 0 dBFS in both channels of a stereo pair
    // reads 0 LUFS (K-weighting gains +0.69 dB at 1 kHz, the -0.691 constant cancels it).
    let pcm = sine(48_000, 2, 10.0, 1000.0, -20.0);
    let l = measure(48_000, 2, &pcm, 4096);
    close(l.integrated_lufs, -20.0, 0.1, "integrated");
    close(l.true_peak_dbtp, -20.0, 0.1, "true peak");
    close(l.range_lu, 0.0, 0.1, "range of a steady tone");
}

#[test]
fn mono_is_weighted_once_so_reads_3_db_below_the_same_stereo_signal() {
    let pcm = sine(44_100, 1, 5.0, 1000.0, -20.0);
    let l = measure(44_100, 1, &pcm, 1000);
    close(
        l.integrated_lufs,
        -20.0 - 10.0 * 2f64.log10(),
        0.1,
        "mono integrated",
    );
}

#[test]
fn result_does_not_depend_on_block_size() {
    let mut pcm = sine(44_100, 2, 4.0, 440.0, -12.0);
    pcm.extend(sine(44_100, 2, 4.0, 3000.0, -30.0));
    let whole = measure(44_100, 2, &pcm, pcm.len());
    let small = measure(44_100, 2, &pcm, 17);
    assert_eq!(whole, small);
}

#[test]
fn silence_has_no_loudness_and_gets_no_gain() {
    let l = measure(48_000, 2, &vec![0.0; 48_000 * 2 * 3], 1024);
    assert_eq!(
        l,
        Loudness {
            integrated_lufs: None,
            range_lu: None,
            true_peak_dbtp: None,
        }
    );
    assert_eq!(playback_gain_db(&l, &GainTarget::default()), 0.0);
}

#[test]
fn audio_below_the_absolute_gate_has_no_integrated_loudness_but_a_peak() {
    let l = measure(48_000, 2, &sine(48_000, 2, 3.0, 1000.0, -80.0), 1024);
    assert_eq!(l.integrated_lufs, None);
    close(l.true_peak_dbtp, -80.0, 0.1, "true peak");
    assert_eq!(playback_gain_db(&l, &GainTarget::default()), 0.0);
}

#[test]
fn audio_shorter_than_one_gating_block_has_no_integrated_loudness() {
    let l = measure(48_000, 2, &sine(48_000, 2, 0.3, 1000.0, -10.0), 1024);
    assert_eq!(l.integrated_lufs, None);
}

#[test]
fn true_peak_sees_intersample_peaks_that_sample_peak_misses() {
    // fs/4 sine with a 45° phase: every sample is at ±0.707 of the real crest, which lies
    // between samples. True peak must find the crest (≈ -6 dBTP here), 3 dB above the samples.
    let rate = 48_000;
    let amplitude = 0.5f64;
    let pcm: Vec<f32> = (0..rate * 2)
        .map(|i| {
            let phase = std::f64::consts::FRAC_PI_2 * f64::from(i) + std::f64::consts::FRAC_PI_4;
            (amplitude * phase.sin()) as f32
        })
        .collect();
    let sample_peak = pcm.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!((20.0 * f64::from(sample_peak).log10() - (-9.03)).abs() < 0.05);
    let l = measure(rate, 1, &pcm, 999);
    close(l.true_peak_dbtp, 20.0 * amplitude.log10(), 0.6, "true peak");
}

#[test]
fn gain_moves_toward_the_target() {
    let quiet = Loudness {
        integrated_lufs: Some(-20.0),
        range_lu: Some(3.0),
        true_peak_dbtp: Some(-12.0),
    };
    assert_eq!(playback_gain_db(&quiet, &GainTarget::default()), 6.0);
    let loud = Loudness {
        integrated_lufs: Some(-8.5),
        range_lu: Some(3.0),
        true_peak_dbtp: Some(-2.0),
    };
    assert_eq!(playback_gain_db(&loud, &GainTarget::default()), -5.5);
}

#[test]
fn gain_is_capped_so_the_true_peak_stays_at_or_below_minus_1_dbtp() {
    // Wants +6 dB, but a peak at -3 dBTP leaves only 2 dB of headroom below -1 dBTP.
    let peaky = Loudness {
        integrated_lufs: Some(-20.0),
        range_lu: Some(12.0),
        true_peak_dbtp: Some(-3.0),
    };
    assert_eq!(playback_gain_db(&peaky, &GainTarget::default()), 2.0);
    // At the target already, but peaking at +0.5 dBTP: turned down 1.5 dB.
    let hot = Loudness {
        integrated_lufs: Some(-14.0),
        range_lu: Some(2.0),
        true_peak_dbtp: Some(0.5),
    };
    assert_eq!(playback_gain_db(&hot, &GainTarget::default()), -1.5);
    // A custom target and ceiling.
    let target = GainTarget {
        target_lufs: -23.0,
        max_true_peak_dbtp: -2.0,
    };
    assert_eq!(playback_gain_db(&peaky, &target), -3.0);
    // Rounding never lifts the peak above the ceiling.
    let odd = Loudness {
        integrated_lufs: Some(-30.0),
        range_lu: None,
        true_peak_dbtp: Some(-4.123_456),
    };
    let gain = playback_gain_db(&odd, &GainTarget::default());
    assert!(-4.123_456 + gain <= -1.0, "{gain}");
    assert!((gain - 3.12).abs() < 1e-9, "{gain}");
}

#[test]
fn unusable_formats_are_errors() {
    assert!(LoudnessMeter::new(48_000, 0).is_err());
    assert!(LoudnessMeter::new(48_000, 1000).is_err());
    assert!(LoudnessMeter::new(5, 2).is_err());
    let mut meter = LoudnessMeter::new(48_000, 2).unwrap();
    assert_eq!(
        meter.push(&[0.0, 0.1, 0.2]).unwrap_err().code().as_str(),
        "encoder-failed"
    );
}

/// Summary values that ffmpeg's `ebur128=peak=true` filter prints for a WAV file.
struct FfmpegLoudness {
    integrated: f64,
    range: f64,
    true_peak: f64,
}

fn ffmpeg_ebur128(wav: &Path) -> FfmpegLoudness {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(wav)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .expect("ffmpeg (Debian package) must be installed for this test");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let summary = log
        .split("Summary:")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary in:\n{log}"));
    let value = |label: &str| -> f64 {
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in:\n{summary}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    FfmpegLoudness {
        integrated: value("I:"),
        range: value("LRA:"),
        true_peak: value("Peak:"),
    }
}

fn write_f32_wav(path: &Path, rate: u32, channels: u16, pcm: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in pcm {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn agrees_with_ffmpeg_on_a_steady_tone_and_on_a_dynamic_programme() {
    let dir = tempfile::tempdir().unwrap();
    // A steady 1 kHz tone at -20 dBFS, and a programme whose level changes (a loud and a quiet
    // passage, with silence between), which exercises the gates and the loudness range.
    let steady = sine(48_000, 2, 10.0, 1000.0, -20.0);
    let mut dynamic = sine(44_100, 2, 8.0, 440.0, -10.0);
    dynamic.extend(vec![0.0; 44_100 * 2 * 2]);
    dynamic.extend(sine(44_100, 2, 8.0, 2500.0, -26.0));
    dynamic.extend(sine(44_100, 2, 6.0, 100.0, -18.0));
    for (name, rate, pcm) in [("steady", 48_000, &steady), ("dynamic", 44_100, &dynamic)] {
        let wav = dir.path().join(format!("{name}.wav"));
        write_f32_wav(&wav, rate, 2, pcm);
        let ours = measure(rate, 2, pcm, 1152);
        let theirs = ffmpeg_ebur128(&wav);
        println!(
            "{name}: ours {ours:?}; ffmpeg I {} LRA {} TP {}",
            theirs.integrated, theirs.range, theirs.true_peak
        );
        // ffmpeg prints one decimal, so allow its rounding on top of the 0.5 LU tolerance.
        close(
            ours.integrated_lufs,
            theirs.integrated,
            0.5,
            &format!("{name} integrated"),
        );
        close(ours.range_lu, theirs.range, 0.5, &format!("{name} range"));
        close(
            ours.true_peak_dbtp,
            theirs.true_peak,
            0.5,
            &format!("{name} true peak"),
        );
    }
    // And the steady tone is where theory puts it.
    close(
        measure(48_000, 2, &steady, 4800).integrated_lufs,
        -20.0,
        0.5,
        "theory",
    );
}

#[test]
fn metering_the_decoder_output_of_a_flac_agrees_with_ffmpeg_on_the_file() {
    // The pipeline's path: symphonia decodes the upload in packets of its own size, and each
    // chunk is pushed as it comes. A quiet intro, a loud body and a quieter coda.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("programme.wav");
    let mut pcm = sine(44_100, 2, 3.0, 200.0, -35.0);
    pcm.extend(sine(44_100, 2, 6.0, 1500.0, -9.0));
    pcm.extend(sine(44_100, 2, 4.0, 5000.0, -24.0));
    write_f32_wav(&wav, 44_100, 2, &pcm);
    let flac = dir.path().join("programme.flac");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "flac", "-sample_fmt", "s32"])
        .arg(&flac)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let file = std::fs::File::open(&flac).unwrap();
    let mut source = super::super::decode::open(Box::new(file)).unwrap();
    let mut meter: Option<LoudnessMeter> = None;
    while let Some((fmt, chunk)) = source.next_chunk().unwrap() {
        let meter =
            meter.get_or_insert_with(|| LoudnessMeter::new(fmt.sample_rate, fmt.channel_count()).unwrap());
        meter.push(chunk).unwrap();
    }
    let ours = meter.unwrap().measurement().unwrap();
    let theirs = ffmpeg_ebur128(&flac);
    println!(
        "ours {ours:?}; ffmpeg I {} LRA {} TP {}",
        theirs.integrated, theirs.range, theirs.true_peak
    );
    close(ours.integrated_lufs, theirs.integrated, 0.5, "integrated");
    close(ours.range_lu, theirs.range, 0.5, "range");
    close(ours.true_peak_dbtp, theirs.true_peak, 0.5, "true peak");
    assert!(ours.range_lu.unwrap() > 5.0, "the programme has a wide range");
}
