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
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use nix::sys::resource::{UsageWho, getrusage};
use veza_jobs::transcode::{
    self, HlsPart, MASTER_PLAYLIST, Resume, TranscodeSettings, TranscodeSummary, Variant, transcode_audio,
};

/// Two channels that differ: a chord swelling at 0.5 Hz, a gliding voice, an off-beat pulse.
const MUSIC: &str = "aevalsrc=exprs=\
    '0.2*sin(2*PI*220*t)*(0.5+0.5*sin(2*PI*0.5*t))\
    +0.15*sin(2*PI*(330+20*sin(2*PI*0.2*t))*t)\
    +0.1*sin(2*PI*440*t)*gt(mod(t\\,0.5)\\,0.25)\
    |0.2*sin(2*PI*277.18*t)*(0.5+0.5*cos(2*PI*0.5*t))\
    +0.15*sin(2*PI*415.3*t)\
    +0.1*sin(2*PI*554.37*t)*gt(mod(t+0.25\\,0.5)\\,0.25)'\
    :s=44100";

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

/// One timed measurement: wall time and CPU time (user + system).
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

fn report_speed(veza: &mut [Timing], ffmpeg: &mut [Timing]) {
    let median = |timings: &mut [Timing]| {
        timings.sort_by_key(|t| t.wall);
        timings[timings.len() / 2]
    };
    let list = |timings: &[Timing]| {
        timings
            .iter()
            .map(|t| format!("{:.2}", t.wall.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (v, f) = (median(veza), median(ffmpeg));
    let row = |label: &str, median: &Timing, runs: &[Timing]| {
        println!(
            "{label:<52} {:>8.2} s wall {:>8.2} s CPU   (runs: {})",
            median.wall.as_secs_f64(),
            median.cpu.as_secs_f64(),
            list(runs)
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
        });
    }
    std::fs::write(out.join(MASTER_PLAYLIST), transcode::master_playlist(&variants))?;
    Ok(())
}

/// The same ladder from ffmpeg in one command: decode once, resample once to 48 kHz, split
/// four ways, native `aac` at 160k and libopus (constrained VBR, as Veza) at 64k/128k/192k,
/// HLS fMP4 with 6-second segments. bench/README.md quotes this command.
fn ffmpeg_ladder(input: &Path, out: &Path) -> anyhow::Result<Timing> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(["-filter_complex", "[0:a]aresample=48000,asplit=4[a0][a1][a2][a3]"])
        .args(["-map", "[a0]", "-c:a:0", "aac", "-b:a:0", "160k"])
        .args(["-map", "[a1]", "-c:a:1", "libopus", "-b:a:1", "64k"])
        .args(["-map", "[a2]", "-c:a:2", "libopus", "-b:a:2", "128k"])
        .args(["-map", "[a3]", "-c:a:3", "libopus", "-b:a:3", "192k"])
        .args(["-vbr", "constrained"])
        .args(["-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod"])
        .args(["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"])
        .args([
            "-var_stream_map",
            "a:0 a:1 a:2 a:3",
            "-master_pl_name",
            "index.m3u8",
        ])
        .arg("-hls_segment_filename")
        .arg(out.join("%v-%05d.m4s"))
        .arg(out.join("%v.m3u8"));
    let (timing, _) = run_measured(&mut cmd).context("ffmpeg (Debian package ffmpeg) must be installed")?;
    if !out.join("index.m3u8").exists() || !out.join("3.m3u8").exists() {
        bail!("ffmpeg wrote no HLS ladder in {}", out.display());
    }
    Ok(timing)
}

/// Runs `cmd` to completion; returns its wall and CPU time and what it printed.
fn run_measured(cmd: &mut Command) -> anyhow::Result<(Timing, String)> {
    // Children's usage counts once they are reaped, so the difference is this child's alone.
    let cpu_before = cpu_time(UsageWho::RUSAGE_CHILDREN);
    let started = Instant::now();
    let output = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output()?;
    let wall = started.elapsed();
    let cpu = cpu_time(UsageWho::RUSAGE_CHILDREN) - cpu_before;
    if !output.status.success() {
        bail!("{cmd:?} failed: {}", output.status);
    }
    Ok((
        Timing { wall, cpu },
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// User plus system CPU time of this process, or of its reaped children.
fn cpu_time(who: UsageWho) -> Duration {
    let usage = getrusage(who).expect("getrusage cannot fail for these arguments");
    let time = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
    };
    time(usage.user_time()) + time(usage.system_time())
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

/// `seconds` of music-like stereo 44.1 kHz 16-bit FLAC at `path`.
fn generate_music(path: &Path, seconds: u32) -> anyhow::Result<()> {
    let source = format!("{MUSIC}:d={seconds}");
    let noise = format!("anoisesrc=c=pink:r=44100:a=0.08:d={seconds}");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-f",
            "lavfi",
            "-i",
            &noise,
            "-filter_complex",
            "[1:a]pan=stereo|c0=c0|c1=c0[n];[0:a][n]amix=inputs=2:normalize=0",
            "-c:a",
            "flac",
            "-sample_fmt",
            "s16",
        ],
        path,
    )
}

/// The first `seconds` of `input`, re-encoded to FLAC (so the container declares the length).
fn cut(input: &Path, output: &Path, seconds: u32) -> anyhow::Result<()> {
    let input = input.to_str().context("a UTF-8 path")?;
    ffmpeg(&["-i", input, "-t", &seconds.to_string(), "-c:a", "flac"], output)
}

/// `input` played `times` times in a row, as one FLAC.
fn loop_to(input: &Path, output: &Path, times: u32) -> anyhow::Result<()> {
    let input = input.to_str().context("a UTF-8 path")?;
    let loops = (times - 1).to_string();
    ffmpeg(&["-stream_loop", &loops, "-i", input, "-c:a", "flac"], output)
}

fn ffmpeg(args: &[&str], output: &Path) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(output)
        .stdin(Stdio::null())
        .status()
        .context("ffmpeg (Debian package ffmpeg) must be installed")?;
    if !status.success() {
        bail!("ffmpeg failed to write {}", output.display());
    }
    Ok(())
}
