//! Waveform tests on generated signals; expected values are worked out by hand from the format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn build(rate: u32, channels: usize, settings: WaveformSettings, pcm: &[f32]) -> Waveform {
    let mut b = WaveformBuilder::new(rate, channels, settings).unwrap();
    b.push(pcm);
    b.finish()
}

fn mono(spp: u32) -> WaveformSettings {
    WaveformSettings {
        samples_per_pixel: spp,
        ..WaveformSettings::default()
    }
}

#[test]
fn dat_header_is_version_2_little_endian_with_8_bit_flag() {
    // 10 frames at 4 per pixel: 2 full pixels and a partial third.
    let w = build(44_100, 2, mono(4), &[0.0; 20]);
    let dat = w.to_dat();
    let expected_header: Vec<u8> = [
        2i32.to_le_bytes(),      // version
        1u32.to_le_bytes(),      // flags: 8-bit
        44_100i32.to_le_bytes(), // sample rate
        4i32.to_le_bytes(),      // samples per pixel
        3u32.to_le_bytes(),      // length in pixels
        1i32.to_le_bytes(),      // channels (merged)
    ]
    .concat();
    assert_eq!(&dat[..HEADER_LEN], &expected_header[..]);
    assert_eq!(dat.len(), HEADER_LEN + 3 * 2);
    assert_eq!(&dat[..8], &[2, 0, 0, 0, 1, 0, 0, 0]);
}

#[test]
fn sixteen_bit_header_clears_the_flag_and_stores_i16_pairs() {
    let settings = WaveformSettings {
        samples_per_pixel: 2,
        bits: Bits::Sixteen,
        ..WaveformSettings::default()
    };
    let w = build(8_000, 1, settings, &[0.5, -0.25]);
    let dat = w.to_dat();
    assert_eq!(&dat[4..8], &0u32.to_le_bytes());
    assert_eq!(
        &dat[HEADER_LEN..],
        &[(-8192i16).to_le_bytes(), 16384i16.to_le_bytes()].concat()[..]
    );
}

#[test]
fn known_signal_gives_known_min_max_per_pixel() {
    // Pixel 0: 0.5 and -0.25 → 16384/256 = 64 and -8192/256 = -32.
    // Pixel 1: full scale both ways → 32767/256 = 127 (truncated) and -32768/256 = -128.
    // Pixel 2: one tiny negative sample → -100/256 truncates toward zero to 0.
    let tiny = -100.0 / 32768.0;
    let w = build(48_000, 1, mono(2), &[0.5, -0.25, 1.0, -1.0, tiny]);
    assert_eq!(w.length, 3);
    assert_eq!(w.data, vec![-32, 64, -128, 127, 0, 0]);
}

#[test]
fn out_of_range_and_nan_samples_clip_instead_of_wrapping() {
    let w = build(48_000, 1, mono(3), &[4.0, -9.0, f32::NAN]);
    assert_eq!(w.data, vec![-128, 127]);
}

#[test]
fn merged_channels_average_with_truncation_like_audiowaveform() {
    // Frame (0.5, -0.5) averages to 0; frame (0.25, 0.75) to 0.5 → 64; min of pixel is 0.
    // Frame (1 LSB, 0) sums to 1, and 1 / 2 truncates to 0 rather than rounding.
    let lsb = 1.0 / 32768.0;
    let w = build(48_000, 2, mono(2), &[0.5, -0.5, 0.25, 0.75, lsb, 0.0]);
    assert_eq!(w.channels, 1);
    assert_eq!(w.data, vec![0, 64, 0, 0]);
}

#[test]
fn split_channels_interleave_min_max_per_channel() {
    let settings = WaveformSettings {
        samples_per_pixel: 2,
        channels: ChannelMode::Split,
        bits: Bits::Eight,
    };
    // Left: 0.5, 0.25 → (32, 64); right: -0.5, -1.0 → (-128, -64).
    let w = build(48_000, 2, settings, &[0.5, -0.5, 0.25, -1.0]);
    assert_eq!(w.channels, 2);
    assert_eq!(w.length, 1);
    assert_eq!(w.data, vec![32, 64, -128, -64]);
}

#[test]
fn sine_peaks_reach_its_amplitude_in_every_pixel() {
    // 1 kHz at half scale, 48 kHz, 480 samples per pixel = 10 ms = 10 full periods per pixel.
    let rate = 48_000;
    let pcm: Vec<f32> = (0..rate)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin())
        .collect();
    let w = build(rate, 1, mono(480), &pcm);
    assert_eq!(w.length, 100);
    for pair in w.data.chunks_exact(2) {
        // The crests land exactly on samples (12 samples per quarter period): ±0.5 × 32768
        // = ±16384, and 16384 / 256 = 64.
        assert_eq!(pair, [-64, 64]);
    }
}

#[test]
fn pushing_in_odd_blocks_equals_pushing_at_once() {
    let pcm: Vec<f32> = (0..10_001)
        .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let whole = build(44_100, 1, mono(37), &pcm);
    let mut b = WaveformBuilder::new(44_100, 1, mono(37)).unwrap();
    for block in pcm.chunks(113) {
        b.push(block);
    }
    assert_eq!(b.finish(), whole);
    assert_eq!(whole.length, 10_001u32.div_ceil(37));
}

#[test]
fn json_carries_the_same_content_as_dat() {
    let pcm: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 0.8).collect();
    for bits in [Bits::Eight, Bits::Sixteen] {
        let settings = WaveformSettings {
            samples_per_pixel: 64,
            channels: ChannelMode::Split,
            bits,
        };
        let w = build(22_050, 2, settings, &pcm);
        let parsed = Waveform::from_dat(&w.to_dat()).unwrap();
        assert_eq!(parsed, w);
        let text = w.to_json().unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["version"], 2);
        assert_eq!(json["channels"], 2);
        assert_eq!(json["sample_rate"], 22_050);
        assert_eq!(json["samples_per_pixel"], 64);
        assert_eq!(json["bits"], bits.count());
        assert_eq!(json["length"], 8);
        let data: Vec<i16> = serde_json::from_value(json["data"].clone()).unwrap();
        assert_eq!(data, parsed.data);
        assert_eq!(serde_json::from_str::<Waveform>(&text).unwrap(), parsed);
        assert_eq!(data.len(), 8 * 2 * 2);
    }
}

#[test]
fn json_field_order_matches_audiowaveform() {
    let text = build(48_000, 1, mono(2), &[0.5, -0.5]).to_json().unwrap();
    assert_eq!(
        text,
        r#"{"version":2,"channels":1,"sample_rate":48000,"samples_per_pixel":2,"bits":8,"length":1,"data":[-64,64]}"#
    );
}

#[test]
fn empty_input_gives_zero_length() {
    let w = build(48_000, 2, mono(256), &[]);
    assert_eq!(w.length, 0);
    assert_eq!(w.to_dat().len(), HEADER_LEN);
}

#[test]
fn unusable_settings_are_refused() {
    assert!(WaveformBuilder::new(48_000, 1, mono(1)).is_err());
    assert!(WaveformBuilder::new(48_000, 1, mono(u32::MAX)).is_err());
    assert!(WaveformBuilder::new(0, 1, mono(256)).is_err());
    assert!(WaveformBuilder::new(48_000, 0, mono(256)).is_err());
    assert!(WaveformBuilder::new(48_000, 1000, mono(256)).is_err());
}

#[test]
fn hostile_dat_files_are_errors_not_panics() {
    let good = build(48_000, 1, mono(2), &[0.5, -0.5, 0.1]).to_dat();
    let mut corpus: Vec<Vec<u8>> = vec![Vec::new(), vec![2], good[..HEADER_LEN - 1].to_vec()];
    corpus.push(good[..good.len() - 1].to_vec()); // truncated body
    let mut wrong_version = good.clone();
    wrong_version[0] = 1;
    corpus.push(wrong_version);
    let mut huge_length = good.clone();
    huge_length[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    corpus.push(huge_length);
    let mut no_channels = good.clone();
    no_channels[20..24].copy_from_slice(&0i32.to_le_bytes());
    corpus.push(no_channels);
    let mut negative_rate = good.clone();
    negative_rate[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    corpus.push(negative_rate);
    for (i, bytes) in corpus.iter().enumerate() {
        let err = Waveform::from_dat(bytes).unwrap_err();
        assert!(err.to_string().starts_with("waveform data: "), "case {i}: {err}");
    }
    assert!(Waveform::from_dat(&good).is_ok());
}

/// audiowaveform's arithmetic written out plainly, applied to ffmpeg's own 16-bit decode.
fn reference_merged_8bit(samples: &[i16], channels: usize, spp: usize) -> Vec<i16> {
    let merged: Vec<i32> = samples
        .chunks_exact(channels)
        .map(|f| f.iter().map(|s| i32::from(*s)).sum::<i32>() / channels as i32)
        .collect();
    let mut out = Vec::new();
    for pixel in merged.chunks(spp) {
        let min = pixel.iter().min().unwrap();
        let max = pixel.iter().max().unwrap();
        out.push((min / 256) as i16);
        out.push((max / 256) as i16);
    }
    out
}

#[test]
fn waveform_of_the_decoder_output_matches_audiowaveform_arithmetic_on_ffmpegs_decode() {
    // A 16-bit stereo FLAC of noise-like content: symphonia's f32 must map back to the exact
    // 16-bit samples, so our peaks equal those computed from ffmpeg's raw s16 decode.
    let dir = tempfile::tempdir().unwrap();
    let flac = dir.path().join("t.flac");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .output()
            .expect("ffmpeg (Debian package) must be installed for this test");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    run(&[
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=d=3:c=pink:r=44100:a=0.8:seed=7,volume=3,aformat=channel_layouts=stereo",
        "-c:a",
        "flac",
        "-sample_fmt",
        "s16",
        flac.to_str().unwrap(),
    ]);
    let raw = run(&["-i", flac.to_str().unwrap(), "-f", "s16le", "-"]);
    let samples: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();

    let file = std::fs::File::open(&flac).unwrap();
    let mut source = super::super::decode::open(Box::new(file)).unwrap();
    let mut builder: Option<WaveformBuilder> = None;
    while let Some((fmt, chunk)) = source.next_chunk().unwrap() {
        builder
            .get_or_insert_with(|| {
                WaveformBuilder::new(fmt.sample_rate, fmt.channel_count(), mono(256)).unwrap()
            })
            .push(chunk);
    }
    let ours = builder.unwrap().finish();
    assert_eq!(ours.sample_rate, 44_100);
    assert_eq!(ours.length as usize, (samples.len() / 2).div_ceil(256));
    assert_eq!(ours.data, reference_merged_8bit(&samples, 2, 256));
    let (lo, hi) = (ours.data.iter().min().unwrap(), ours.data.iter().max().unwrap());
    println!("8-bit extremes {lo}..{hi}");
    // Loud, clipped noise: the extremes of the 8-bit range are exercised.
    assert!(*lo <= -100 && *hi >= 100, "{lo}..{hi}");
}
