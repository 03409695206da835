//! `just bench-audio`: a 3-minute stereo 44.1 kHz FLAC through Veza's whole default ladder
//! (decode → downmix → 48 kHz resample → AAC-LC 160 and Opus 64/128/192 → fMP4 segments and HLS
//! playlists, with loudness and waveform peaks measured on the way), beside ffmpeg producing the
//! same ladder as HLS fMP4 in the same run; then Veza's peak RSS for 1-minute, 3-minute and
//! 1-hour inputs, each in a child process of its own.
//!
//! Usage: `bench-audio [RUNS]` (default 3; median reported). Needs `ffmpeg` (Debian), which also
//! generates the inputs: music-like content (chords with tremolo and vibrato, rhythmic
//! gating, pink noise), not silence. The inputs live in a temporary folder under `/var/tmp`
//! (the 1-hour FLAC is a few hundred MB) and are deleted at the end.
//!
//! Hidden subcommand: `bench-audio rss FILE` transcodes FILE and prints its peak RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use nix::sys::resource::UsageWho;
use veza_bench::{
    measure::{self, Timing, cpu_time, run_measured},
    music::{cut, ffmpeg_ladder, generate_music, loop_to},
};
use veza_jobs::transcode::{
    self, HlsPart, MASTER_PLAYLIST, Resume, TranscodeSettings, TranscodeSummary, Variant, transcode_audio,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("rss") {
        let file = args.get(1).context("usage: bench-audio rss FILE")?;
        return print_peak_rss(Path::new(file));
    }
    let runs: usize = args.first().map(|n| n.parse()).transpose()?.unwrap_or(3).max(1);
    let dir = tempfile::Builder::new()
        .prefix("veza-bench-audio-")
        .tempdir_in("/var/tmp")?;
    let three_minutes = dir.path().join("3min.flac");
    generate_music(&three_minutes, 180)?;

    println!(
        "audio benchmark: 3-minute stereo 44.1 kHz FLAC → AAC-LC 160k + Opus 64k/128k/192k, \
         48 kHz, HLS fMP4 6 s segments; median of {runs}"
    );
    let mut veza = Vec::new();
    let mut ffmpeg = Vec::new();
    for run in 0..runs {
        // Alternate who goes first, so neither always meets a warm or a cold cache.
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for veza_turn in order {
            let out = dir
                .path()
                .join(format!("out-{run}-{}", if veza_turn { "veza" } else { "ffmpeg" }));
            std::fs::create_dir(&out)?;
            if veza_turn {
                veza.push(veza_ladder(&three_minutes, &out)?);
            } else {
                ffmpeg.push(ffmpeg_ladder(&three_minutes, &out)?);
            }
            std::fs::remove_dir_all(&out)?;
        }
    }
    report_speed(&mut veza, &mut ffmpeg);

    let one_minute = dir.path().join("1min.flac");
    let one_hour = dir.path().join("1h.flac");
    cut(&three_minutes, &one_minute, 60)?;
    loop_to(&three_minutes, &one_hour, 20)?;
    println!();
    println!("Veza peak RSS (VmHWM of a child process that only runs the pipeline)");
    for (label, file) in [
        ("1-minute input", &one_minute),
        ("3-minute input", &three_minutes),
        ("1-hour input", &one_hour),
    ] {
        let (mib, wall) = child_peak_rss(file)?;
        println!("{label:<52} {mib:>10.1} MiB   ({:.1} s)", wall.as_secs_f64());
    }
    Ok(())
}

fn report_speed(veza: &mut [Timing], ffmpeg: &mut [Timing]) {
    let (v, f) = (measure::median(veza), measure::median(ffmpeg));
    let row = |label: &str, median: &Timing, runs: &[Timing]| {
        println!(
            "{label:<52} {:>8.2} s wall {:>8.2} s CPU   (runs: {})",
            median.wall.as_secs_f64(),
            median.cpu.as_secs_f64(),
            measure::list(runs)
        );
    };
    row("Veza transcode_audio (sink writes files)", &v, veza);
    row("ffmpeg, one command, 4 outputs", &f, ffmpeg);
    println!(
        "{:<52} {:>8.2}x (below 1 = Veza faster)",
        "ratio Veza / ffmpeg, wall",
        v.wall.as_secs_f64() / f.wall.as_secs_f64()
    );
    println!(
        "{:<52} {:>8.2}x",
        "ratio Veza / ffmpeg, CPU",
        v.cpu.as_secs_f64() / f.cpu.as_secs_f64()
    );
    println!(
        "{:<52} {:>8.0}x / {:.0}x real time",
        "speed, Veza / ffmpeg",
        180.0 / v.wall.as_secs_f64(),
        180.0 / f.wall.as_secs_f64()
    );
}

/// Veza's pipeline on `input`, every part written to a file in `out` as it arrives (as ffmpeg
/// writes its segments), then the media playlists and the master playlist.
fn veza_ladder(input: &Path, out: &Path) -> anyhow::Result<Timing> {
    let cpu_before = cpu_time(UsageWho::RUSAGE_SELF);
    let started = Instant::now();
    let summary = transcode_to_dir(input, out)?;
    write_playlists(&summary, out)?;
    let wall = started.elapsed();
    let cpu = cpu_time(UsageWho::RUSAGE_SELF) - cpu_before;
    let seconds = summary.duration_seconds;
    if (seconds - 180.0).abs() > 0.05 {
        bail!("Veza's output lasts {seconds} s, not 180 s");
    }
    Ok(Timing { wall, cpu })
}

/// Runs the default ladder over `input`, writing each init and media segment to `out`.
fn transcode_to_dir(input: &Path, out: &Path) -> anyhow::Result<TranscodeSummary> {
    let settings = TranscodeSettings::default();
    let names: Vec<String> = settings.ladder.iter().map(|r| r.name()).collect();
    let file = std::fs::File::open(input)?;
    let mut sink = |part: HlsPart| {
        let (name, bytes) = match part {
            HlsPart::Started { .. } => return Ok(()),
            HlsPart::Init { rendition, bytes } => (transcode::init_file_name(&names[rendition]), bytes),
            HlsPart::Segment {
                rendition,
                index,
                bytes,
                ..
            } => (transcode::segment_file_name(&names[rendition], index), bytes),
        };
        std::fs::write(out.join(name), &bytes).map_err(|err| transcode::TranscodeError::Sink(err.to_string()))
    };
    // A first attempt: nothing stored before, nothing to resume.
    Ok(transcode_audio(
        file,
        &settings,
        &Resume::default(),
        &mut sink,
        &|| false,
        // As a worker with free cores runs it: one thread per rendition, at most one per core.
        std::thread::available_parallelism().map_or(1, usize::from),
    )?)
}

fn write_playlists(summary: &TranscodeSummary, out: &Path) -> anyhow::Result<()> {
    let mut variants = Vec::new();
    for rendition in &summary.renditions {
        let name = rendition.rendition.name();
        std::fs::write(
            out.join(transcode::playlist_file_name(&name)),
            transcode::media_playlist(&name, &rendition.segment_durations),
        )?;
        variants.push(Variant {
            rendition: name,
            bandwidth: rendition.peak_bitrate_bps,
            average_bandwidth: rendition.average_bitrate_bps,
            codecs: rendition.rendition.codecs_attr().to_owned(),
            picture: None,
        });
    }
    std::fs::write(out.join(MASTER_PLAYLIST), transcode::master_playlist(&variants))?;
    Ok(())
}

/// Re-executes this binary as `rss FILE`; returns the child's peak RSS in MiB and its wall time.
fn child_peak_rss(file: &Path) -> anyhow::Result<(f64, Duration)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("rss").arg(file);
    let (timing, stdout) = run_measured(&mut cmd)?;
    let kib: f64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmHWM in {stdout:?}"))?;
    Ok((kib / 1024.0, timing.wall))
}

/// The child's side: transcode `file` into a scratch folder (deleted at the end; the 1-hour
/// ladder takes about 250 MB), then print the process's peak RSS: `VmHWM: N kB`.
fn print_peak_rss(file: &Path) -> anyhow::Result<()> {
    let out = tempfile::Builder::new()
        .prefix("veza-bench-audio-rss-")
        .tempdir_in("/var/tmp")?;
    let summary = transcode_to_dir(file, out.path())?;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    println!(
        "{} ({:.0} s of audio)",
        hwm.split_whitespace().collect::<Vec<_>>().join(" "),
        summary.duration_seconds
    );
    Ok(())
}
