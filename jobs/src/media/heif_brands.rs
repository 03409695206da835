//! HEIC/HEIF and AVIF files told apart by the brands of their leading `ftyp` box: the upload's
//! sniffing and the thumbnail kind's decoder use the same test.

/// The family of an ISO-BMFF image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeifKind {
    /// HEVC-coded HEIF (`heic`, `heix`, ...): the iPhone's default.
    Heic,
    /// AV1-coded (`avif`, `avis`).
    Avif,
    /// Only the generic HEIF brands (`mif1`, `msf1`): the codec is known once parsed.
    Heif,
}

impl HeifKind {
    /// The MIME type of this kind of file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Heic => "image/heic",
            Self::Avif => "image/avif",
            Self::Heif => "image/heif",
        }
    }
}

const HEVC_BRANDS: [&[u8; 4]; 8] = [
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];
const AV1_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
const GENERIC_BRANDS: [&[u8; 4]; 2] = [b"mif1", b"msf1"];

/// The kind of HEIF file `head` starts, judged from the major and compatible brands of its
/// leading `ftyp` box; `None` for anything else (an MP4 video, a QuickTime file, not ISO-BMFF).
pub fn sniff(head: &[u8]) -> Option<HeifKind> {
    if head.get(4..8)? != b"ftyp" {
        return None;
    }
    let size = usize::try_from(u32::from_be_bytes(head.get(0..4)?.try_into().ok()?)).ok()?;
    if size < 16 {
        return None;
    }
    let major = head.get(8..12)?;
    // Major brand first, then the compatible brands (skipping the minor version at 12..16).
    let compatible = head.get(16..size.min(head.len())).unwrap_or_default();
    let brands = std::iter::once(major).chain(compatible.chunks_exact(4));
    let mut generic = false;
    for brand in brands {
        if AV1_BRANDS.iter().any(|b| b.as_slice() == brand) {
            return Some(HeifKind::Avif);
        }
        if HEVC_BRANDS.iter().any(|b| b.as_slice() == brand) {
            return Some(HeifKind::Heic);
        }
        generic |= GENERIC_BRANDS.iter().any(|b| b.as_slice() == brand);
    }
    generic.then_some(HeifKind::Heif)
}
