//! What the pipeline decodes from: symphonia for every format it decodes, libopus for Opus in
//! Ogg (symphonia 0.6 has no Opus decoder). The choice is made from the file's first bytes,
//! never from its name; the stream facts, tags and cover art come from the same probe. An MP4 or
//! QuickTime file passes [`movie`]'s gate first: a readable `moov` listing no video track.

use std::io::{Read, Seek, SeekFrom};

use super::decode::{self, PcmFormat, SourceDecoder};
use super::error::TranscodeError;
use super::metadata::{self, AudioMetadata};
use super::movie;
use super::opus_in_ogg::{self, OggOpusDecoder};

/// Bytes read to recognise Ogg Opus (its first page carries the `OpusHead` packet).
const SNIFF_LEN: usize = 512;

/// An open decoder for the file's audio.
pub enum Input {
    /// symphonia.
    Symphonia(SourceDecoder),
    /// libopus behind symphonia's Ogg demuxer.
    OggOpus {
        /// The decoder.
        decoder: OggOpusDecoder,
        /// 48 kHz, the stream's channel layout.
        format: PcmFormat,
    },
}

fn unreadable(err: std::io::Error) -> TranscodeError {
    TranscodeError::CorruptMedia(format!("cannot read the file: {err}"))
}

/// Opens `file` for decoding and reads its metadata.
pub fn open(mut file: std::fs::File) -> Result<(Input, AudioMetadata), TranscodeError> {
    let mut prefix = Vec::with_capacity(SNIFF_LEN);
    (&mut file)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(unreadable)?;
    if movie::is_movie(&prefix) {
        movie::check_audio_only(&mut file)?;
    }
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    if !opus_in_ogg::is_ogg_opus(&prefix) {
        let mut decoder = decode::open(Box::new(file))?;
        let metadata = decoder.metadata()?;
        return Ok((Input::Symphonia(decoder), metadata));
    }
    // Two readers of one file, one after the other: the probe for the tags, then the decoder.
    let probe = file.try_clone().map_err(unreadable)?;
    let metadata = metadata::read_metadata(Box::new(probe))?;
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let decoder = opus_in_ogg::open(Box::new(file))?;
    let format = PcmFormat {
        sample_rate: 48_000,
        channels: decoder.channels().clone(),
    };
    Ok((Input::OggOpus { decoder, format }, metadata))
}

impl Input {
    /// Short name of the source codec (e.g. "flac", "mp3", "opus").
    pub fn codec_name(&self) -> &'static str {
        match self {
            Self::Symphonia(d) => d.codec_name(),
            Self::OggOpus { .. } => "opus",
        }
    }

    /// Decodes the next block; `None` at the end. The slice is interleaved f32.
    pub fn next_chunk(&mut self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError> {
        match self {
            Self::Symphonia(d) => d.next_chunk(),
            Self::OggOpus { decoder, format } => Ok(decoder.next_chunk()?.map(|pcm| (&*format, pcm))),
        }
    }
}
