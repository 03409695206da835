//! Integration tests on small clips made with the ffmpeg CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use veza_jobs::video::av::{ColorRange, Hdr, ProbeError, Ratio, decode_frames, probe};

/// All clips are generated once per run into target/tmp/clips (a static
/// TempDir would never be dropped, so it would leak).
fn clip_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clips");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-threads", "1"])
        .args(args)
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed for {}", out.display());
}

/// Makes `name` once (tests run in parallel; a per-name OnceLock guards it).
fn clip(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let cell = {
        let mut map = LOCKS.get_or_init(Default::default).lock().unwrap();
        Arc::clone(map.entry(name.to_owned()).or_default())
    };
    cell.get_or_init(|| {
        let p = clip_dir().join(name);
        make(&p);
        p
    })
    .clone()
}

const SRC: &str = "testsrc2=size=320x180:rate=25:duration=2";
const AUDIO: &str = "sine=frequency=440:sample_rate=48000:duration=2";

fn h264_aac_mp4() -> PathBuf {
    clip("h264_aac.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-f",
                "lavfi",
                "-i",
                AUDIO,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "25",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-ac",
                "2",
                "-shortest",
            ],
            p,
        )
    })
}

/// HEVC in MOV with the tkhd matrix patched to a display rotation.
fn hevc_rotated_mov(cw_degrees: u32) -> PathBuf {
    let base = clip("hevc_plain.mov", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=none:pools=1:frame-threads=1",
                "-pix_fmt",
                "yuv420p",
            ],
            p,
        )
    });
    clip(&format!("hevc_rot{cw_degrees}.mov"), |p| {
        let mut bytes = std::fs::read(&base).unwrap();
        patch_tkhd_rotation(&mut bytes, cw_degrees);
        std::fs::write(p, bytes).unwrap();
    })
}

/// Overwrites the matrix of the first (version 0) `tkhd` box. Matrix entries
/// a b u / c d v / x y w are 16.16 except u, v, w (2.30).
fn patch_tkhd_rotation(bytes: &mut [u8], cw_degrees: u32) {
    let pos = bytes.windows(4).position(|w| w == b"tkhd").expect("tkhd box");
    assert_eq!(bytes[pos + 4], 0, "expected tkhd version 0");
    // fourcc(4) + version/flags(4) + created(4) + modified(4) + track id(4)
    // + reserved(4) + duration(4) + reserved(8) + layer(2) + alt group(2)
    // + volume(2) + reserved(2)
    let off = pos + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2;
    let one: i32 = 0x10000;
    let (a, b, c, d) = match cw_degrees {
        90 => (0, one, -one, 0),
        180 => (-one, 0, 0, -one),
        270 => (0, -one, one, 0),
        _ => (one, 0, 0, one),
    };
    let m: [i32; 9] = [a, b, 0, c, d, 0, 0, 0, 0x4000_0000];
    for (i, v) in m.iter().enumerate() {
        bytes[off + i * 4..off + i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
}

fn vp9_opus_webm() -> PathBuf {
    clip("vp9_opus.webm", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-f",
                "lavfi",
                "-i",
                AUDIO,
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
                "-b:v",
                "200k",
                "-c:a",
                "libopus",
                "-ac",
                "2",
                "-shortest",
            ],
            p,
        )
    })
}

fn hevc_10bit_mp4() -> PathBuf {
    clip("hevc10.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=none:pools=1:frame-threads=1",
                "-pix_fmt",
                "yuv420p10le",
            ],
            p,
        )
    })
}

fn hevc_pq_mp4() -> PathBuf {
    clip("hevc_pq.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=none:pools=1:frame-threads=1",
                "-pix_fmt",
                "yuv420p10le",
                "-color_primaries",
                "bt2020",
                "-color_trc",
                "smpte2084",
                "-colorspace",
                "bt2020nc",
            ],
            p,
        )
    })
}

fn hevc_hlg_mp4() -> PathBuf {
    clip("hevc_hlg.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=none:pools=1:frame-threads=1",
                "-pix_fmt",
                "yuv420p10le",
                "-color_primaries",
                "bt2020",
                "-color_trc",
                "arib-std-b67",
                "-colorspace",
                "bt2020nc",
            ],
            p,
        )
    })
}

fn mjpeg_full_range_mov() -> PathBuf {
    clip("mjpeg_full.mov", |p| {
        ffmpeg(
            &[
                "-f", "lavfi", "-i", SRC, "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "3",
            ],
            p,
        )
    })
}

fn h264_pc_range_mp4() -> PathBuf {
    clip("h264_pc.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-vf",
                "scale=out_range=full",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-color_range",
                "pc",
            ],
            p,
        )
    })
}

/// First 0.5 s at 25 fps, then every 5th frame only: clearly VFR.
fn h264_vfr_mp4() -> PathBuf {
    clip("h264_vfr.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-vf",
                "select='lt(n\\,12)+not(mod(n\\,5))'",
                "-fps_mode",
                "vfr",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
            ],
            p,
        )
    })
}

fn av1_mkv() -> PathBuf {
    clip("av1.mkv", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x180:rate=25:duration=1",
                "-c:v",
                "libaom-av1",
                "-cpu-used",
                "8",
                "-row-mt",
                "0",
                "-b:v",
                "100k",
            ],
            p,
        )
    })
}

/// AAC audio with a JPEG cover (attached picture): no real video stream.
fn m4a_with_cover() -> PathBuf {
    let cover = clip("cover.jpg", |p| {
        ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1"], p)
    });
    clip("cover.m4a", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                AUDIO,
                "-i",
                cover.to_str().unwrap(),
                "-map",
                "0:a",
                "-map",
                "1:v",
                "-c:a",
                "aac",
                "-c:v",
                "copy",
                "-disposition:v",
                "attached_pic",
            ],
            p,
        )
    })
}

fn truncated_mp4() -> PathBuf {
    let src = h264_aac_mp4();
    clip("truncated.mp4", |p| {
        let bytes = std::fs::read(&src).unwrap();
        // moov is at the end (no +faststart), so 30 % has no moov at all.
        let moov = bytes.windows(4).rposition(|w| w == b"moov").unwrap();
        assert!(moov > bytes.len() * 3 / 10, "moov should be at the end");
        std::fs::write(p, &bytes[..bytes.len() * 3 / 10]).unwrap();
    })
}

/// moov first (+faststart), then cut at 30 %: headers fine, media data missing.
fn truncated_faststart_mp4() -> PathBuf {
    let full = clip("faststart.mp4", |p| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "25",
                "-movflags",
                "+faststart",
            ],
            p,
        )
    });
    clip("truncated_faststart.mp4", |p| {
        let bytes = std::fs::read(&full).unwrap();
        std::fs::write(p, &bytes[..bytes.len() * 3 / 10]).unwrap();
    })
}

fn random_bytes() -> PathBuf {
    clip("random.mp4", |p| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..256 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(p, bytes).unwrap();
    })
}

fn ffprobe_rotation(p: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_streams"])
        .arg(p)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("rotation="))
        .unwrap_or("")
        .to_owned()
}

fn close(a: f64, b: f64, eps: f64) -> bool {
    (a - b).abs() <= eps
}

// ---------------------------------------------------------------------------
// probe

#[test]
fn probe_h264_mp4_with_aac() {
    let f = probe(&h264_aac_mp4()).unwrap();
    println!("{f:#?}");
    assert_eq!(f.container, "mov,mp4,m4a,3gp,3g2,mj2");
    let v = &f.video;
    assert_eq!(v.codec, "h264");
    assert_eq!((v.width, v.height), (320, 180));
    assert_eq!(v.rotation_degrees, 0);
    assert_eq!(v.avg_frame_rate, Some(Ratio { num: 25, den: 1 }));
    assert_eq!(v.real_frame_rate, Some(Ratio { num: 25, den: 1 }));
    assert!(!v.variable_frame_rate);
    assert!(close(v.duration_seconds.unwrap(), 2.0, 0.05));
    assert_eq!(v.frame_count, Some(50));
    assert_eq!(v.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(v.bit_depth, Some(8));
    assert_eq!(v.hdr, None);
    assert_eq!(f.audio.len(), 1);
    assert_eq!(f.audio[0].codec, "aac");
    assert_eq!(f.audio[0].channels, Some(2));
    assert_eq!(f.audio[0].sample_rate, Some(48000));
}

#[test]
fn probe_hevc_mov_rotation() {
    for deg in [90u16, 180, 270] {
        let p = hevc_rotated_mov(u32::from(deg));
        // ffprobe reports the counter-clockwise angle.
        let ffp = ffprobe_rotation(&p);
        println!("{deg}: ffprobe {ffp}");
        assert!(!ffp.is_empty(), "ffprobe shows no rotation for {deg}");
        let f = probe(&p).unwrap();
        assert_eq!(f.video.codec, "hevc");
        assert_eq!(f.video.rotation_degrees, deg, "{ffp}");
        let want = if deg == 180 { (320, 180) } else { (180, 320) };
        assert_eq!(f.video.display_size(), want);
        assert!(f.audio.is_empty(), "no audio expected");
    }
    let plain = probe(&clip_dir().join("hevc_plain.mov")).unwrap();
    assert_eq!(plain.video.rotation_degrees, 0);
    // Legacy `-metadata:s:v rotate=90` writes no display matrix in 5.1.
    assert_eq!(ffprobe_rotation(&clip_dir().join("hevc_plain.mov")), "");
}

#[test]
fn probe_vp9_webm_with_opus() {
    let f = probe(&vp9_opus_webm()).unwrap();
    println!("{f:#?}");
    assert_eq!(f.container, "matroska,webm");
    assert_eq!(f.video.codec, "vp9");
    assert_eq!((f.video.width, f.video.height), (320, 180));
    assert_eq!(f.video.frame_count, None, "WebM has no frame count in headers");
    assert!(close(f.video.duration_seconds.unwrap(), 2.0, 0.1));
    assert_eq!(f.audio.len(), 1);
    assert_eq!(f.audio[0].codec, "opus");
    assert_eq!(f.audio[0].channels, Some(2));
    assert_eq!(f.audio[0].sample_rate, Some(48000));
}

#[test]
fn probe_hevc_10bit() {
    let f = probe(&hevc_10bit_mp4()).unwrap();
    println!("{f:#?}");
    assert_eq!(f.video.codec, "hevc");
    assert_eq!(f.video.pixel_format.as_deref(), Some("yuv420p10le"));
    assert_eq!(f.video.bit_depth, Some(10));
    assert_eq!(f.video.hdr, None);
    assert!(f.audio.is_empty());
}

#[test]
fn probe_pq_and_hlg() {
    let f = probe(&hevc_pq_mp4()).unwrap();
    println!("{f:#?}");
    assert_eq!(f.video.hdr, Some(Hdr::Pq));
    assert_eq!(f.video.transfer_characteristic.as_deref(), Some("smpte2084"));
    assert_eq!(f.video.color_primaries.as_deref(), Some("bt2020"));
    assert_eq!(f.video.matrix_coefficients.as_deref(), Some("bt2020nc"));
    assert_eq!(f.video.bit_depth, Some(10));

    let h = probe(&hevc_hlg_mp4()).unwrap();
    assert_eq!(h.video.hdr, Some(Hdr::Hlg));
    assert_eq!(h.video.transfer_characteristic.as_deref(), Some("arib-std-b67"));
}

#[test]
fn probe_full_range() {
    let m = probe(&mjpeg_full_range_mov()).unwrap();
    println!("{m:#?}");
    assert_eq!(m.video.codec, "mjpeg");
    assert_eq!(m.video.pixel_format.as_deref(), Some("yuvj420p"));
    assert_eq!(m.video.color_range, ColorRange::Full);

    let h = probe(&h264_pc_range_mp4()).unwrap();
    println!("{h:#?}");
    // FFmpeg 5.1's H.264 decoder maps full-range 8-bit 4:2:0 to yuvj420p.
    assert_eq!(h.video.pixel_format.as_deref(), Some("yuvj420p"));
    assert_eq!(h.video.color_range, ColorRange::Full);

    let limited = probe(&hevc_pq_mp4()).unwrap();
    assert_ne!(limited.video.color_range, ColorRange::Full);
}

#[test]
fn probe_vfr_detection() {
    let f = probe(&h264_vfr_mp4()).unwrap();
    println!("{:?} {:?}", f.video.avg_frame_rate, f.video.real_frame_rate);
    assert!(f.video.variable_frame_rate);
    for cfr in [h264_aac_mp4(), vp9_opus_webm(), hevc_10bit_mp4()] {
        let c = probe(&cfr).unwrap();
        assert!(
            !c.video.variable_frame_rate,
            "{} {:?} {:?}",
            cfr.display(),
            c.video.avg_frame_rate,
            c.video.real_frame_rate
        );
    }
}

#[test]
fn probe_av1() {
    let f = probe(&av1_mkv()).unwrap();
    println!("{f:#?}");
    assert_eq!(f.video.codec, "av1");
    assert_eq!((f.video.width, f.video.height), (320, 180));
    let mut n = 0;
    decode_frames(&av1_mkv(), f.video.index, 0.0, 10.0, |_| {
        n += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(n, 25);
}

#[test]
fn probe_errors() {
    let t = probe(&truncated_mp4());
    println!("truncated: {t:?}");
    assert!(matches!(&t, Err(ProbeError::Unreadable(m)) if !m.is_empty()));

    let r = probe(&random_bytes());
    println!("random: {r:?}");
    assert!(matches!(
        r,
        Err(ProbeError::Unreadable(_)) | Err(ProbeError::NoVideoStream { .. })
    ));

    let cover = probe(&m4a_with_cover());
    println!("cover art m4a: {cover:?}");
    assert!(matches!(
        cover,
        Err(ProbeError::NoVideoStream { audio_streams: 1 })
    ));

    let missing = probe(&clip_dir().join("does-not-exist.mp4"));
    assert!(matches!(&missing, Err(ProbeError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound));

    let dir = probe(clip_dir());
    assert!(matches!(dir, Err(ProbeError::Io(_))));

    let empty = clip("empty.mp4", |p| std::fs::write(p, b"").unwrap());
    let e = probe(&empty);
    println!("empty: {e:?}");
    assert!(e.is_err());

    // A name that looks like a protocol must still be read as a file.
    let odd = clip("concat:x|y.mp4", |p| {
        std::fs::copy(h264_aac_mp4(), p).map(|_| ()).unwrap()
    });
    assert_eq!(probe(&odd).unwrap().video.codec, "h264");

    #[cfg(unix)]
    {
        // A FIFO would block open(2) forever: rejected as not a regular file.
        let fifo = clip_dir().join("fifo.mp4");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(probe(&fifo), Err(ProbeError::Io(_))));

        use std::os::unix::ffi::OsStrExt;
        let bad = clip_dir().join(std::ffi::OsStr::from_bytes(b"bad\xff.mp4"));
        std::fs::copy(h264_aac_mp4(), &bad).unwrap();
        assert!(
            matches!(probe(&bad), Err(ProbeError::Io(_))),
            "non-UTF-8 path must not panic"
        );
    }
}

// ---------------------------------------------------------------------------
// decode

struct Seen {
    pts: Vec<f64>,
    mean_y: f64,
    min_y: u8,
    max_y: u8,
    full_range: bool,
    bits: u8,
}

fn collect(path: &Path, start: f64, end: f64) -> Seen {
    let idx = probe(path).unwrap().video.index;
    let mut seen = Seen {
        pts: vec![],
        mean_y: 0.0,
        min_y: 255,
        max_y: 0,
        full_range: false,
        bits: 0,
    };
    let (mut sum, mut count) = (0u64, 0u64);
    decode_frames(path, idx, start, end, |f| {
        let (w, h) = (f.width as usize, f.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let bytes = if f.bits > 8 { 2 } else { 1 };
        let (w8, cw8) = (w * bytes, cw * bytes);
        assert!(f.y_stride >= w8 && f.u_stride >= cw8 && f.v_stride >= cw8);
        assert!(f.y.len() >= f.y_stride * (h - 1) + w8);
        assert!(f.u.len() >= f.u_stride * (ch - 1) + cw8);
        assert!(f.v.len() >= f.v_stride * (ch - 1) + cw8);
        seen.bits = f.bits;
        for row in 0..h {
            let line = &f.y[row * f.y_stride..row * f.y_stride + w8];
            // In 8-bit units: a 10-bit sample is four times larger.
            let samples: Vec<u8> = if bytes == 2 {
                line.chunks(2)
                    .map(|p| (u16::from_le_bytes([p[0], p[1]]) / 4) as u8)
                    .collect()
            } else {
                line.to_vec()
            };
            for y in samples {
                seen.min_y = seen.min_y.min(y);
                seen.max_y = seen.max_y.max(y);
                sum += u64::from(y);
                count += 1;
            }
        }
        seen.full_range = f.full_range;
        seen.pts.push(f.pts_seconds);
        ControlFlow::Continue(())
    })
    .unwrap();
    seen.mean_y = sum as f64 / count.max(1) as f64;
    seen
}

#[test]
fn decode_h264_range_with_seek() {
    let p = h264_aac_mp4();
    // 25 fps: frames at k * 0.04 s; [0.48, 1.0) holds 0.48 ..= 0.96.
    let s = collect(&p, 0.48, 1.0);
    println!("{:?}", s.pts);
    assert_eq!(s.pts.len(), 13);
    assert!(close(s.pts[0], 0.48, 1e-9));
    assert!(s.pts.windows(2).all(|w| w[1] > w[0]), "presentation order");

    // Seek past the keyframe at 1.0 s (-g 25): frames before 1.2 are discarded.
    let s = collect(&p, 1.2, 1.5);
    println!("{:?}", s.pts);
    assert_eq!(s.pts.len(), 8);
    assert!(close(s.pts[0], 1.2, 1e-9));
    assert!(!s.full_range);

    let all = collect(&p, 0.0, 100.0);
    assert_eq!(all.pts.len(), 50);
}

#[test]
fn decode_10bit_keeps_10_bits() {
    let ten = collect(&hevc_10bit_mp4(), 0.0, 0.4);
    let eight = collect(&h264_aac_mp4(), 0.0, 0.4);
    assert_eq!(ten.pts.len(), 10);
    assert_eq!((ten.bits, eight.bits), (10, 8));
    println!(
        "10-bit: Y {}..{} mean {:.2}; 8-bit: Y {}..{} mean {:.2}",
        ten.min_y, ten.max_y, ten.mean_y, eight.min_y, eight.max_y, eight.mean_y
    );
    // Same source: the 10-bit frames read in 8-bit units have the same mean
    // luma as the 8-bit encode (a wrong shift would give ~1/4 or ~4x).
    assert!((ten.mean_y - eight.mean_y).abs() < 2.0);
    assert!(!ten.full_range);
}

#[test]
fn decode_full_range_kept() {
    let m = collect(&mjpeg_full_range_mov(), 0.0, 0.2);
    println!("mjpeg Y {}..{}", m.min_y, m.max_y);
    assert_eq!(m.pts.len(), 5);
    assert!(m.full_range);
    // testsrc2's darkest area is Y~20 in limited range, ~4 in full range;
    // a range conversion would have pushed it back up to >= 16.
    assert!(m.min_y < 10, "full-range samples were squeezed");

    let h = collect(&h264_pc_range_mp4(), 0.0, 0.2);
    println!("h264 pc Y {}..{}", h.min_y, h.max_y);
    assert!(h.full_range);
    assert!(h.min_y < 10, "full-range samples were squeezed");
}

#[test]
fn decode_vp9_rotated_hevc_and_early_stop() {
    let vp9 = collect(&vp9_opus_webm(), 0.0, 100.0);
    assert_eq!(vp9.pts.len(), 50);
    let vp9 = collect(&vp9_opus_webm(), 1.2, 1.5);
    println!("vp9 seek {:?}", vp9.pts);
    assert_eq!(vp9.pts.len(), 8);
    assert!(close(vp9.pts[0], 1.2, 1e-9));

    let rot = collect(&hevc_rotated_mov(90), 1.0, 1.2);
    assert_eq!(rot.pts.len(), 5);

    let p = h264_aac_mp4();
    let mut n = 0;
    let summary = decode_frames(&p, 0, 0.0, 2.0, |_| {
        n += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!((n, summary.delivered), (1, 1));
}

#[test]
fn decode_errors() {
    let p = h264_aac_mp4();
    let f = probe(&p).unwrap();
    let audio_index = f.audio[0].index;
    let nop = |_: &veza_jobs::video::av::Yuv420Frame<'_>| ControlFlow::Continue(());
    assert!(matches!(
        decode_frames(&p, audio_index, 0.0, 1.0, nop),
        Err(ProbeError::InvalidArgument(_))
    ));
    assert!(matches!(
        decode_frames(&p, 99, 0.0, 1.0, nop),
        Err(ProbeError::InvalidArgument(_))
    ));
    assert!(matches!(
        decode_frames(&p, 0, 1.0, 1.0, nop),
        Err(ProbeError::InvalidArgument(_))
    ));
    assert!(matches!(
        decode_frames(&p, 0, f64::NAN, 1.0, nop),
        Err(ProbeError::InvalidArgument(_))
    ));
    assert!(decode_frames(&truncated_mp4(), 0, 0.0, 1.0, nop).is_err());
    assert!(decode_frames(&random_bytes(), 0, 0.0, 1.0, nop).is_err());
}

#[test]
fn truncated_media_data_decodes_what_is_there() {
    let p = truncated_faststart_mp4();
    let f = probe(&p).unwrap();
    assert_eq!(f.video.frame_count, Some(50), "headers are intact");
    let mut n = 0;
    let r = decode_frames(&p, f.video.index, 0.0, 100.0, |_| {
        n += 1;
        ControlFlow::Continue(())
    });
    println!("truncated faststart: {r:?}, {n} frames");
    let summary = r.unwrap();
    assert!(n > 0 && n < 50);
    assert!(summary.bad_reads > 0);
}
