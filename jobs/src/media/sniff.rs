//! What kind an upload is, read from its first bytes, never from a file name or a client's claim.

use super::MediaKind;

/// How many leading bytes [`sniff`] needs to recognise every supported format.
pub const SNIFF_LEN: usize = 8192;

/// What the first bytes of an upload say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// A format Veza processes.
    Supported {
        /// Audio or image.
        kind: MediaKind,
        /// The MIME type read from the bytes.
        content_type: &'static str,
    },
    /// A recognised format Veza does not process (yet), e.g. a PDF.
    Unsupported {
        /// The MIME type read from the bytes.
        content_type: &'static str,
    },
    /// Not recognised at all.
    Unknown,
}

/// Detects the kind from the bytes.
pub fn sniff(head: &[u8]) -> Sniffed {
    // HEIC/HEIF and AVIF by their `ftyp` brands, the same test the thumbnail job decodes by
    // (`infer` misses some brand combinations and would call them video). Before the MP4
    // family: an image's `ftyp` may list `isom` or `mp41` among its brands too.
    if let Some(kind) = super::heif_brands::sniff(head) {
        return Sniffed::Supported {
            kind: MediaKind::Image,
            content_type: kind.content_type(),
        };
    }
    // An MP4 or QuickTime file may hold audio alone (M4A, podcasts, voice memos) or video, and
    // only its `moov` box says which; ffmpeg and most recorders write that box after the media
    // data, far beyond these bytes. Audio brands (M4A, M4B, ...) are audio; the rest are probed
    // as video, and the probe hands an item without a video stream to the audio pipeline.
    if let Some(content_type) = movie_content_type(head) {
        let kind = if content_type == "audio/mp4" {
            MediaKind::Audio
        } else {
            MediaKind::Video
        };
        return Sniffed::Supported { kind, content_type };
    }
    if let Some(content_type) = ebml_content_type(head) {
        return Sniffed::Supported {
            kind: MediaKind::Video,
            content_type,
        };
    }
    let Some(found) = infer::get(head) else {
        return Sniffed::Unknown;
    };
    let content_type = found.mime_type();
    let kind = match content_type {
        "audio/x-wav" | "audio/x-flac" | "audio/mpeg" | "audio/ogg" | "audio/x-aiff" => {
            Some(MediaKind::Audio)
        }
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/bmp" | "image/tiff" => {
            Some(MediaKind::Image)
        }
        _ => None,
    };
    match kind {
        Some(kind) => Sniffed::Supported { kind, content_type },
        None => Sniffed::Unsupported { content_type },
    }
}

/// The MIME type of a Matroska or WebM file `head` starts: an EBML header whose `DocType`
/// element (id `0x4282`, within the header's first bytes) says `webm` or `matroska`. (`infer`
/// calls every EBML file WebM, and finds Matroska only at fixed offsets.)
fn ebml_content_type(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return None;
    }
    let window = head.get(..head.len().min(64))?;
    let at = window.windows(2).position(|id| id == [0x42, 0x82])?;
    // A one-byte size (`0x80 | n`), as every muxer writes for so short a string.
    let size = usize::from(window.get(at + 2)? & 0x7F);
    let doctype = head.get(at + 3..at + 3 + size)?;
    match doctype {
        b"webm" => Some("video/webm"),
        b"matroska" => Some("video/x-matroska"),
        _ => None,
    }
}

/// `ftyp` brands of the MP4/QuickTime family (ISO base media, Apple's M4A/M4B/M4V and QuickTime,
/// 3GPP, Adobe's F4x): the files symphonia's MP4 demuxer reads.
const MOVIE_BRANDS: [&[u8; 4]; 22] = [
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4A ",
    b"M4B ", b"M4P ", b"M4V ", b"qt  ", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"F4V ", b"F4A ", b"F4B ",
];

/// The MIME type of an MP4/QuickTime file `head` starts, from the brands of its leading `ftyp`
/// box (the major brand names the container's flavour); `None` for anything else. An MP4 is
/// `video/mp4` until its tracks are read: the type names the container, not its content.
fn movie_content_type(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8)? != b"ftyp" {
        return None;
    }
    let size = usize::try_from(u32::from_be_bytes(head.get(0..4)?.try_into().ok()?)).ok()?;
    let major: &[u8; 4] = head.get(8..12)?.try_into().ok()?;
    // The compatible brands follow the minor version (12..16).
    let compatible = head.get(16..size.min(head.len())).unwrap_or_default();
    let in_family = std::iter::once(major.as_slice())
        .chain(compatible.chunks_exact(4))
        .any(|brand| MOVIE_BRANDS.iter().any(|b| b.as_slice() == brand));
    if !in_family {
        return None;
    }
    Some(match major {
        b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " => "audio/mp4",
        b"qt  " => "video/quicktime",
        [b'3', b'g', b'2', _] => "video/3gpp2",
        [b'3', b'g', b'p', _] => "video/3gpp",
        _ => "video/mp4",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A file starting with an `ftyp` box of `major` and `compatible` brands, then a `free` box.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = u32::try_from(16 + 4 * compatible.len()).unwrap();
        let mut out = size.to_be_bytes().to_vec();
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out.extend_from_slice(&[0, 0, 0, 8]);
        out.extend_from_slice(b"free");
        out
    }

    fn audio(content_type: &'static str) -> Sniffed {
        Sniffed::Supported {
            kind: MediaKind::Audio,
            content_type,
        }
    }

    fn video(content_type: &'static str) -> Sniffed {
        Sniffed::Supported {
            kind: MediaKind::Video,
            content_type,
        }
    }

    #[test]
    fn m4a_is_audio_mp4() {
        // ffmpeg's `-c:a aac out.m4a` and an iPhone voice memo.
        assert_eq!(
            sniff(&ftyp(b"M4A ", &[b"M4A ", b"isom", b"iso2"])),
            audio("audio/mp4")
        );
        assert_eq!(
            sniff(&ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"])),
            audio("audio/mp4")
        );
        // An audiobook.
        assert_eq!(sniff(&ftyp(b"M4B ", &[b"M4B ", b"isom"])), audio("audio/mp4"));
    }

    #[test]
    fn mp4_and_quicktime_are_probed_as_video() {
        // ffmpeg's `.mp4`, audio-only or not: the head cannot tell, the probe decides.
        assert_eq!(
            sniff(&ftyp(b"isom", &[b"isom", b"iso2", b"mp41"])),
            video("video/mp4")
        );
        assert_eq!(sniff(&ftyp(b"mp42", &[b"mp42", b"isom"])), video("video/mp4"));
        assert_eq!(sniff(&ftyp(b"qt  ", &[b"qt  "])), video("video/quicktime"));
        assert_eq!(sniff(&ftyp(b"3gp4", &[b"isom", b"3gp4"])), video("video/3gpp"));
        // An unknown major brand that declares itself compatible with the family.
        assert_eq!(
            sniff(&ftyp(b"XAVC", &[b"XAVC", b"mp42", b"iso2"])),
            video("video/mp4")
        );
    }

    #[test]
    fn matroska_and_webm_are_video() {
        let ebml = |doctype: &[u8]| {
            let mut out = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82];
            out.push(0x80 | u8::try_from(doctype.len()).unwrap());
            out.extend_from_slice(doctype);
            out
        };
        assert_eq!(sniff(&ebml(b"webm")), video("video/webm"));
        assert_eq!(sniff(&ebml(b"matroska")), video("video/x-matroska"));
    }

    #[test]
    fn heif_and_avif_stay_images_though_they_list_mp4_brands() {
        let image = |content_type| Sniffed::Supported {
            kind: MediaKind::Image,
            content_type,
        };
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), image("image/heic"));
        assert_eq!(
            sniff(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf", b"MA1B"])),
            image("image/avif")
        );
        assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1", b"isom"])), image("image/heif"));
    }

    #[test]
    fn other_iso_bmff_brands_are_not_taken_for_movies() {
        // A Canon CR3 raw photo is ISO-BMFF with its own brand.
        assert!(!matches!(
            sniff(&ftyp(b"crx ", &[b"crx "])),
            Sniffed::Supported { .. }
        ));
    }

    #[test]
    fn short_or_malformed_ftyp_heads_do_not_panic() {
        let file = ftyp(b"M4A ", &[b"M4A "]);
        for len in 0..file.len() {
            let _ = sniff(&file[..len]);
        }
        // A size smaller than the header itself: the major brand still decides.
        let mut tiny = file.clone();
        tiny[0..4].copy_from_slice(&4u32.to_be_bytes());
        assert_eq!(sniff(&tiny), audio("audio/mp4"));
        let mut huge = file;
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(sniff(&huge), audio("audio/mp4"));
    }

    #[test]
    fn quicktime_without_ftyp_and_other_formats_keep_their_answers() {
        // A legacy QuickTime file starting with `moov`: symphonia needs an `ftyp`, so it stays
        // refused.
        let mut legacy = vec![0, 0, 0, 16];
        legacy.extend_from_slice(b"moov");
        legacy.extend_from_slice(&[0; 8]);
        assert_eq!(
            sniff(&legacy),
            Sniffed::Unsupported {
                content_type: "video/quicktime"
            }
        );
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), audio("audio/x-flac"));
        let mut wav = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&[16, 0, 0, 0]);
        assert_eq!(sniff(&wav), audio("audio/x-wav"));
        assert_eq!(
            sniff(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
            Sniffed::Unsupported {
                content_type: "application/pdf"
            }
        );
        assert_eq!(sniff(b"just some text"), Sniffed::Unknown);
    }
}
