//! The audio benchmarks' input and reference: music-like FLAC made by ffmpeg (chords with
//! tremolo and vibrato, rhythmic gating, pink noise; not silence) and ffmpeg's HLS ladder.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::measure::{Timing, run_measured};

/// Two channels that differ: a chord swelling at 0.5 Hz, a gliding voice, an off-beat pulse.
const MUSIC: &str = "aevalsrc=exprs=\
    '0.2*sin(2*PI*220*t)*(0.5+0.5*sin(2*PI*0.5*t))\
    +0.15*sin(2*PI*(330+20*sin(2*PI*0.2*t))*t)\
    +0.1*sin(2*PI*440*t)*gt(mod(t\\,0.5)\\,0.25)\
    |0.2*sin(2*PI*277.18*t)*(0.5+0.5*cos(2*PI*0.5*t))\
    +0.15*sin(2*PI*415.3*t)\
    +0.1*sin(2*PI*554.37*t)*gt(mod(t+0.25\\,0.5)\\,0.25)'\
    :s=44100";

/// The same ladder from ffmpeg in one command: decode once, resample once to 48 kHz, split
/// four ways, native `aac` at 160k and libopus (constrained VBR, as Veza) at 64k/128k/192k,
/// HLS fMP4 with 6-second segments. bench/README.md quotes this command.
pub fn ffmpeg_ladder(input: &Path, out: &Path) -> anyhow::Result<Timing> {
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

/// `seconds` of music-like stereo 44.1 kHz 16-bit FLAC at `path`.
pub fn generate_music(path: &Path, seconds: u32) -> anyhow::Result<()> {
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
pub fn cut(input: &Path, output: &Path, seconds: u32) -> anyhow::Result<()> {
    let input = input.to_str().context("a UTF-8 path")?;
    ffmpeg(&["-i", input, "-t", &seconds.to_string(), "-c:a", "flac"], output)
}

/// `input` played `times` times in a row, as one FLAC.
pub fn loop_to(input: &Path, output: &Path, times: u32) -> anyhow::Result<()> {
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
