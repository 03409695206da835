//! The MP4 gate on files ffmpeg writes: the track list read from the `moov` box wherever it is,
//! and the transcode's answer for video and for a file cut before its `moov`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use veza_e2e::fixtures;
use veza_jobs::transcode::{
    Rendition, Resume, TranscodeError, TranscodeSettings, TranscodeSummary,
    movie::{self, Tracks},
    transcode_audio,
};

const TONE: [&str; 4] = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"];
const PICTURE: [&str; 4] = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2"];

fn make(inputs: &[&[&str]], options: &[&str], name: &str) -> Vec<u8> {
    let args: Vec<&str> = inputs
        .iter()
        .flat_map(|i| i.iter().copied())
        .chain(options.iter().copied())
        .collect();
    fixtures::ffmpeg(&args, name)
}

fn tracks(file: &[u8]) -> Tracks {
    movie::read_tracks(&mut Cursor::new(file)).unwrap()
}

fn audio_only() -> Tracks {
    Tracks {
        audio: 1,
        video: Vec::new(),
    }
}

fn transcode(file: &[u8]) -> Result<TranscodeSummary, TranscodeError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.bin");
    std::fs::write(&path, file).unwrap();
    let settings = TranscodeSettings {
        ladder: Rendition::parse_ladder("opus:64").unwrap(),
        ..TranscodeSettings::default()
    };
    let file = std::fs::File::open(&path).unwrap();
    transcode_audio(file, &settings, &Resume::default(), &mut |_| Ok(()), &|| false, 1)
}

#[test]
fn audio_only_files_list_one_sound_track_wherever_moov_is() {
    let aac = ["-c:a", "aac"];
    let faststart = ["-c:a", "aac", "-movflags", "+faststart"];
    for (options, name) in [
        (&aac[..], "moov-last.mp4"),
        (&faststart[..], "moov-first.mp4"),
        (&aac[..], "voice.m4a"),
        (&["-c:a", "alac"][..], "lossless.m4a"),
        (&["-c:a", "pcm_s16le"][..], "quicktime.mov"),
    ] {
        let file = make(&[&TONE], options, name);
        assert_eq!(tracks(&file), audio_only(), "{name}");
        let summary = transcode(&file).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(
            (summary.duration_seconds - 2.0).abs() < 0.05,
            "{name}: {summary:?}"
        );
    }
}

#[test]
fn video_with_or_without_audio_is_unsupported_video() {
    let with_audio = make(&[&PICTURE, &TONE], &["-c:v", "mpeg4", "-c:a", "aac"], "clip.mp4");
    assert_eq!(
        tracks(&with_audio),
        Tracks {
            audio: 1,
            video: vec!["mp4v".into()]
        }
    );
    let silent = make(&[&PICTURE], &["-c:v", "mpeg4"], "silent.mov");
    assert_eq!(
        tracks(&silent),
        Tracks {
            audio: 0,
            video: vec!["mp4v".into()]
        }
    );
    for file in [with_audio, silent] {
        let err = transcode(&file).unwrap_err();
        assert_eq!(err.code().as_str(), "unsupported-video", "{err}");
        assert!(err.is_permanent());
    }
}

#[test]
fn a_file_cut_before_its_moov_is_unreadable_moov() {
    let file = make(&[&TONE], &["-c:a", "aac"], "cut.mp4");
    for len in [file.len() / 2, file.len() - 20] {
        let err = transcode(&file[..len]).unwrap_err();
        assert_eq!(err.code().as_str(), "unreadable-moov", "{err}");
        assert!(err.is_permanent());
    }
}
