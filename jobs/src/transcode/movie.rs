//! The gate in front of MP4/QuickTime inputs. The API accepts that family without knowing
//! whether a file holds video: only the `moov` box (the index of tracks and samples) says so, and
//! ffmpeg and most recorders write it after the media data. Here the whole file is at hand, so
//! its track list is read before any decoding: a video fails with `unsupported-video`, a file
//! whose `moov` is missing, cut off or malformed with `unreadable-moov`; both are permanent.
//!
//! Only box headers and three small fields are read (`tkhd` flags, `hdlr` type, the first
//! `stsd` entry's type), seeking over everything else: memory stays constant whatever the file.

use std::io::{Read, Seek, SeekFrom};

use super::error::TranscodeError;

/// Boxes looked at before giving up. A real file has a handful at the top level and a dozen per
/// track; a hostile one could chain millions of empty boxes.
const MAX_BOXES: u32 = 100_000;

/// Whether the file starting with `prefix` is ISO-BMFF (its first box an `ftyp`), which is what
/// symphonia's MP4 demuxer reads.
pub fn is_movie(prefix: &[u8]) -> bool {
    prefix.get(4..8) == Some(b"ftyp".as_slice())
}

/// The tracks a movie's `moov` box lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracks {
    /// Sound tracks (`soun` handler).
    pub audio: usize,
    /// The sample entry type (codec, e.g. `avc1`) of each enabled video track (`vide` handler).
    /// A disabled one, such as an audiobook's chapter pictures, is not shown by players and is
    /// not counted.
    pub video: Vec<String>,
}

/// Fails unless the movie's `moov` is readable and lists no video track; leaves the reader at
/// an unspecified position.
pub fn check_audio_only<R: Read + Seek>(reader: &mut R) -> Result<Tracks, TranscodeError> {
    let tracks = read_tracks(reader)?;
    if let Some(codec) = tracks.video.first() {
        let audio = if tracks.audio > 0 {
            "besides its audio"
        } else {
            "and no audio"
        };
        return Err(TranscodeError::UnsupportedVideo(format!(
            "the file holds a video track ({codec}) {audio}; Veza processes audio and images only"
        )));
    }
    Ok(tracks)
}

/// A box: its type, where its body starts and where it ends.
#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    body: u64,
    end: u64,
}

impl BoxHeader {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

fn unreadable(reason: impl Into<String>) -> TranscodeError {
    TranscodeError::UnreadableMoov(reason.into())
}

fn io_error(err: std::io::Error) -> TranscodeError {
    TranscodeError::CorruptMedia(format!("cannot read the file: {err}"))
}

/// Reads the track list of the file's top-level `moov` box.
pub fn read_tracks<R: Read + Seek>(reader: &mut R) -> Result<Tracks, TranscodeError> {
    let len = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
    let mut walker = Walker { reader, visited: 0 };
    let mut at = 0;
    while len - at >= 8 {
        let header = walker.header(at, len)?;
        if header.end > len {
            return Err(if &header.kind == b"moov" {
                unreadable(format!(
                    "the `moov` box is cut off: it needs {} bytes, the file ends after {}; the file is truncated",
                    header.end - at,
                    len - at
                ))
            } else {
                unreadable(format!(
                    "the file ends inside its `{}` box and no `moov` box came before it; the file is truncated",
                    header.name()
                ))
            });
        }
        if &header.kind == b"moov" {
            return walker.movie_tracks(&header);
        }
        at = header.end;
    }
    Err(unreadable(
        "the file has no `moov` box: it is truncated, or its recording was never finished",
    ))
}

struct Walker<'r, R> {
    reader: &'r mut R,
    visited: u32,
}

impl<R: Read + Seek> Walker<'_, R> {
    /// The header of the box at `at`, in a parent that ends at `limit` (at least 8 bytes away).
    /// The box's end may lie beyond `limit`: the caller decides what that means.
    fn header(&mut self, at: u64, limit: u64) -> Result<BoxHeader, TranscodeError> {
        self.visited += 1;
        if self.visited > MAX_BOXES {
            return Err(TranscodeError::CorruptMedia(format!(
                "more than {MAX_BOXES} boxes before the tracks were found"
            )));
        }
        let mut head = [0u8; 8];
        self.read_at(at, &mut head)?;
        let [s0, s1, s2, s3, k0, k1, k2, k3] = head;
        let kind = [k0, k1, k2, k3];
        let (size, body) = match u32::from_be_bytes([s0, s1, s2, s3]) {
            // Extends to the end of its parent (the last top-level box, usually `mdat`).
            0 => (limit - at, at + 8),
            1 => {
                let mut large = [0u8; 8];
                if limit - at < 16 {
                    return Err(self.malformed(kind, "a 64-bit size that does not fit"));
                }
                self.read_at(at + 8, &mut large)?;
                (u64::from_be_bytes(large), at + 16)
            }
            size => (u64::from(size), at + 8),
        };
        if size < body - at {
            return Err(self.malformed(kind, "a size smaller than its own header"));
        }
        Ok(BoxHeader {
            kind,
            body,
            end: at.saturating_add(size),
        })
    }

    fn malformed(&self, kind: [u8; 4], what: &str) -> TranscodeError {
        unreadable(format!(
            "the `{}` box is malformed: {what}",
            String::from_utf8_lossy(&kind)
        ))
    }

    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> Result<(), TranscodeError> {
        self.reader.seek(SeekFrom::Start(at)).map_err(io_error)?;
        self.reader.read_exact(buf).map_err(io_error)
    }

    /// The boxes directly inside `parent`'s body from `offset` bytes in, each within it.
    fn children(&mut self, parent: &BoxHeader, offset: u64) -> Result<Vec<BoxHeader>, TranscodeError> {
        let mut children = Vec::new();
        let mut at = parent.body.saturating_add(offset);
        while parent.end.saturating_sub(at) >= 8 {
            let child = self.header(at, parent.end)?;
            if child.end > parent.end {
                return Err(unreadable(format!(
                    "the `moov` box is malformed: a `{}` box overruns its `{}` box",
                    child.name(),
                    parent.name()
                )));
            }
            children.push(child);
            at = child.end;
        }
        Ok(children)
    }

    /// The child of `parent` of type `kind`, if any.
    fn child(&mut self, parent: &BoxHeader, kind: &[u8; 4]) -> Result<Option<BoxHeader>, TranscodeError> {
        Ok(self.children(parent, 0)?.into_iter().find(|b| &b.kind == kind))
    }

    /// The first `N` bytes of `header`'s body, or `None` when the body is shorter.
    fn body_bytes<const N: usize>(&mut self, header: &BoxHeader) -> Result<Option<[u8; N]>, TranscodeError> {
        if header.end - header.body < N as u64 {
            return Ok(None);
        }
        let mut buf = [0u8; N];
        self.read_at(header.body, &mut buf)?;
        Ok(Some(buf))
    }

    fn movie_tracks(&mut self, moov: &BoxHeader) -> Result<Tracks, TranscodeError> {
        let mut tracks = Tracks::default();
        for trak in self.children(moov, 0)? {
            if &trak.kind != b"trak" {
                continue;
            }
            let (mut enabled, mut handler, mut codec) = (true, None, None);
            for part in self.children(&trak, 0)? {
                match &part.kind {
                    // Version (1 byte), then flags (3 bytes): bit 0 is "track enabled".
                    b"tkhd" => {
                        if let Some([_, _, _, flags]) = self.body_bytes::<4>(&part)? {
                            enabled = flags & 1 == 1;
                        }
                    }
                    b"mdia" => (handler, codec) = self.media_handler_and_codec(&part)?,
                    _ => {}
                }
            }
            match handler.as_ref() {
                Some(b"soun") => tracks.audio += 1,
                Some(b"vide") if enabled => {
                    tracks.video.push(codec.unwrap_or_else(|| "unknown codec".into()))
                }
                _ => {}
            }
        }
        Ok(tracks)
    }

    /// The `hdlr` handler type of a track's `mdia` box and its first sample entry's type
    /// (`mdia/minf/stbl/stsd`).
    fn media_handler_and_codec(
        &mut self,
        mdia: &BoxHeader,
    ) -> Result<(Option<[u8; 4]>, Option<String>), TranscodeError> {
        let mut handler = None;
        if let Some(hdlr) = self.child(mdia, b"hdlr")? {
            // Version and flags, `pre_defined`, then the handler type.
            handler = self.body_bytes::<12>(&hdlr)?.map(|b| [b[8], b[9], b[10], b[11]]);
        }
        let Some(minf) = self.child(mdia, b"minf")? else {
            return Ok((handler, None));
        };
        let Some(stbl) = self.child(&minf, b"stbl")? else {
            return Ok((handler, None));
        };
        let Some(stsd) = self.child(&stbl, b"stsd")? else {
            return Ok((handler, None));
        };
        // Version and flags, the entry count, then the sample entries.
        let codec = self.children(&stsd, 8)?.first().map(BoxHeader::name);
        Ok((handler, codec))
    }
}

#[cfg(test)]
mod tests;
