//! The MP4 gate on box layouts built by hand: what each ffmpeg-made file has, and the ways a
//! file loses its `moov`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use super::*;

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(8 + body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

fn ftyp() -> Vec<u8> {
    bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41")
}

fn mdat(len: usize) -> Vec<u8> {
    bx(b"mdat", &vec![0x55; len])
}

/// A `trak` with a `tkhd` (enabled or not), and `mdia/hdlr` of `handler` with one sample entry
/// of type `codec` in `mdia/minf/stbl/stsd`.
fn trak(handler: &[u8; 4], codec: &[u8; 4], enabled: bool) -> Vec<u8> {
    let mut tkhd = vec![0, 0, 0, u8::from(enabled)];
    tkhd.extend_from_slice(&[0; 80]);
    let mut hdlr = vec![0; 8];
    hdlr.extend_from_slice(handler);
    hdlr.extend_from_slice(&[0; 13]);
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(bx(codec, &[0; 28]));
    let stbl = bx(b"stbl", &bx(b"stsd", &stsd));
    let minf = bx(b"minf", &stbl);
    let mut mdia = bx(b"mdhd", &[0; 24]);
    mdia.extend(bx(b"hdlr", &hdlr));
    mdia.extend(minf);
    let mut body = bx(b"tkhd", &tkhd);
    body.extend(bx(b"mdia", &mdia));
    bx(b"trak", &body)
}

fn moov(traks: &[Vec<u8>]) -> Vec<u8> {
    let mut body = bx(b"mvhd", &[0; 100]);
    for t in traks {
        body.extend_from_slice(t);
    }
    bx(b"moov", &body)
}

/// ftyp, mdat, then moov: what `ffmpeg -c:a aac out.mp4` writes.
fn moov_last(traks: &[Vec<u8>]) -> Vec<u8> {
    [ftyp(), mdat(4000), moov(traks)].concat()
}

fn check(file: &[u8]) -> Result<Tracks, TranscodeError> {
    check_audio_only(&mut Cursor::new(file))
}

fn audio_track() -> Vec<u8> {
    trak(b"soun", b"mp4a", true)
}

#[test]
fn audio_only_passes_with_moov_last_or_first() {
    let expected = Tracks {
        audio: 1,
        video: Vec::new(),
    };
    assert_eq!(check(&moov_last(&[audio_track()])).unwrap(), expected);
    let faststart = [ftyp(), moov(&[audio_track()]), mdat(4000)].concat();
    assert_eq!(check(&faststart).unwrap(), expected);
}

#[test]
fn a_video_track_fails_with_or_without_audio() {
    for traks in [
        vec![trak(b"vide", b"avc1", true), audio_track()],
        vec![trak(b"vide", b"avc1", true)],
    ] {
        let err = check(&moov_last(&traks)).unwrap_err();
        assert_eq!(err.code().as_str(), "unsupported-video");
        assert!(err.is_permanent());
        let message = err.to_string();
        assert!(message.starts_with("video is not supported yet"), "{message}");
        assert!(message.contains("avc1"), "{message}");
    }
}

#[test]
fn a_disabled_video_track_such_as_chapter_pictures_is_not_video() {
    let tracks = check(&moov_last(&[audio_track(), trak(b"vide", b"jpeg", false)])).unwrap();
    assert_eq!(tracks.audio, 1);
    assert!(tracks.video.is_empty());
}

#[test]
fn other_tracks_are_neither_audio_nor_video() {
    // A chapter-title text track beside the audio.
    let tracks = check(&moov_last(&[audio_track(), trak(b"text", b"text", false)])).unwrap();
    assert_eq!(
        tracks,
        Tracks {
            audio: 1,
            video: Vec::new()
        }
    );
}

fn unreadable_reason(file: &[u8]) -> String {
    match check(file) {
        Err(err @ TranscodeError::UnreadableMoov(_)) => {
            assert_eq!(err.code().as_str(), "unreadable-moov");
            assert!(err.is_permanent());
            err.to_string()
        }
        other => panic!("expected unreadable-moov, got {other:?}"),
    }
}

#[test]
fn a_truncated_file_whose_moov_came_last_is_unreadable_moov() {
    let file = moov_last(&[audio_track()]);
    let mdat_end = ftyp().len() + mdat(4000).len();
    let reason = unreadable_reason(&file[..mdat_end - 100]);
    assert!(reason.contains("inside its `mdat` box"), "{reason}");
    let reason = unreadable_reason(&file[..file.len() - 10]);
    assert!(reason.contains("`moov` box is cut off"), "{reason}");
    // Cut at every byte: never a panic, never a pass.
    for len in 0..file.len() {
        assert!(check(&file[..len]).is_err(), "cut at {len}");
    }
}

#[test]
fn a_file_without_moov_is_unreadable_moov() {
    let reason = unreadable_reason(&[ftyp(), mdat(4000)].concat());
    assert!(reason.contains("no `moov` box"), "{reason}");
    // An `mdat` that says it runs to the end of the file (size 0), as a recorder leaves it
    // when it is stopped before writing the index.
    let mut open_ended = [ftyp(), mdat(4000)].concat();
    let at = ftyp().len();
    open_ended[at..at + 4].copy_from_slice(&[0; 4]);
    let reason = unreadable_reason(&open_ended);
    assert!(reason.contains("no `moov` box"), "{reason}");
}

#[test]
fn a_malformed_moov_is_unreadable_moov() {
    let mut file = moov_last(&[audio_track()]);
    // The `trak` claims more bytes than its `moov` holds.
    let trak_at = file.windows(4).position(|w| w == b"trak").unwrap() - 4;
    file[trak_at..trak_at + 4].copy_from_slice(&100_000u32.to_be_bytes());
    let reason = unreadable_reason(&file);
    assert!(reason.contains("overruns"), "{reason}");
    // A box smaller than its own header.
    let mut file = moov_last(&[audio_track()]);
    file[trak_at..trak_at + 4].copy_from_slice(&3u32.to_be_bytes());
    let reason = unreadable_reason(&file);
    assert!(reason.contains("smaller than its own header"), "{reason}");
}

#[test]
fn a_64_bit_mdat_size_is_followed_to_the_moov() {
    let payload = vec![0x55; 3000];
    let mut mdat = 1u32.to_be_bytes().to_vec();
    mdat.extend_from_slice(b"mdat");
    mdat.extend_from_slice(&(16 + payload.len() as u64).to_be_bytes());
    mdat.extend_from_slice(&payload);
    let file = [ftyp(), mdat, moov(&[audio_track()])].concat();
    assert_eq!(check(&file).unwrap().audio, 1);
}

#[test]
fn endless_empty_boxes_are_refused_not_walked() {
    let mut file = ftyp();
    for _ in 0..=MAX_BOXES {
        file.extend_from_slice(&bx(b"free", &[]));
    }
    let err = check(&file).unwrap_err();
    assert_eq!(err.code().as_str(), "corrupt-media", "{err}");
}

#[test]
fn is_movie_looks_for_a_leading_ftyp() {
    assert!(is_movie(&ftyp()));
    assert!(!is_movie(b"fLaC\0\0\0\x22"));
    assert!(!is_movie(b"\0\0\0"));
}
