//! A video's soundtrack through FFmpeg: one audio stream decoded and handed out block by block
//! as interleaved `f32` at the stream's own rate, mono kept mono and anything wider downmixed
//! to stereo by swresample. The audio pipeline pulls from it as from its own decoders.

use std::{path::Path, sync::atomic::Ordering};

use ffmpeg_next as ff;

use super::av::{OpenedInput, ProbeError, map_ff_error, open_input};

/// Demuxer or decoder errors in a row before the stream is declared unreadable.
const MAX_ERRORS_IN_A_ROW: u32 = 64;

/// An open soundtrack decoder.
pub struct AudioDecoder {
    opened: OpenedInput,
    stream_index: usize,
    decoder: ff::decoder::Audio,
    resampler: Option<(ff::software::resampling::Context, (ff::format::Sample, u64, u32))>,
    channels: u16,
    rate: u32,
    pcm: Vec<f32>,
    eof_sent: bool,
}

impl AudioDecoder {
    /// Opens audio stream `stream_index` of `path`.
    pub fn open(path: &Path, stream_index: usize) -> Result<Self, ProbeError> {
        let opened = open_input(path)?;
        opened.open_phase.store(false, Ordering::Relaxed);
        let stream = opened
            .input
            .stream(stream_index)
            .filter(|s| s.parameters().medium() == ff::media::Type::Audio)
            .ok_or_else(|| ProbeError::InvalidArgument(format!("stream {stream_index} is not audio")))?;
        let codec = stream.parameters().id().name().to_owned();
        let context = ff::codec::Context::from_parameters(stream.parameters())
            .map_err(|err| ProbeError::Unreadable(format!("codec parameters: {err}")))?;
        let decoder = context
            .decoder()
            .audio()
            .map_err(|err| ProbeError::UnsupportedCodec(format!("{codec}: {err}")))?;
        let channels = if decoder.channels() <= 1 { 1 } else { 2 };
        let rate = decoder.rate();
        if rate == 0 {
            return Err(ProbeError::Unreadable(
                "the soundtrack declares no sample rate".into(),
            ));
        }
        Ok(Self {
            opened,
            stream_index,
            decoder,
            resampler: None,
            channels,
            rate,
            pcm: Vec::new(),
            eof_sent: false,
        })
    }

    /// Output channels: 1 or 2.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Output sample rate (the stream's).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The next block of interleaved samples; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, ProbeError> {
        let mut frame = ff::frame::Audio::empty();
        let mut errors = 0u32;
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    self.convert(&frame)?;
                    if self.pcm.is_empty() {
                        continue;
                    }
                    return Ok(Some(&self.pcm));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other {
                    errno: ff::error::EAGAIN,
                }) => {}
                Err(ff::Error::InvalidData) => {
                    errors += 1;
                    if errors > MAX_ERRORS_IN_A_ROW {
                        return Err(ProbeError::Decode(
                            "the soundtrack keeps failing to decode".into(),
                        ));
                    }
                    continue;
                }
                Err(err) => return Err(ProbeError::Decode(err.to_string())),
            }
            if self.eof_sent {
                return Ok(None);
            }
            self.feed(&mut errors)?;
        }
    }

    /// Reads packets until one of the stream is sent to the decoder (or the end is).
    fn feed(&mut self, errors: &mut u32) -> Result<(), ProbeError> {
        let mut packet = ff::Packet::empty();
        loop {
            match packet.read(&mut self.opened.input) {
                Ok(()) if packet.stream() != self.stream_index => {}
                Ok(()) => {
                    return match self.decoder.send_packet(&packet) {
                        Ok(()) => Ok(()),
                        Err(ff::Error::InvalidData) => {
                            *errors += 1;
                            Ok(())
                        }
                        Err(err) => Err(ProbeError::Decode(err.to_string())),
                    };
                }
                Err(ff::Error::Eof) => {
                    self.eof_sent = true;
                    return match self.decoder.send_eof() {
                        Ok(()) | Err(ff::Error::Eof) => Ok(()),
                        Err(err) => Err(ProbeError::Decode(err.to_string())),
                    };
                }
                Err(ff::Error::InvalidData) => {
                    *errors += 1;
                    if *errors > MAX_ERRORS_IN_A_ROW {
                        return Err(ProbeError::Unreadable("too many demuxer errors".into()));
                    }
                }
                Err(err) => return Err(map_ff_error(err)),
            }
        }
    }

    /// Converts `frame` to interleaved f32 of `self.channels` into `self.pcm`.
    fn convert(&mut self, frame: &ff::frame::Audio) -> Result<(), ProbeError> {
        let layout = if frame.channel_layout().bits() == 0 {
            ff::ChannelLayout::default(i32::from(frame.channels()))
        } else {
            frame.channel_layout()
        };
        let key = (frame.format(), layout.bits(), frame.rate());
        if frame.rate() != self.rate {
            return Err(ProbeError::Decode(format!(
                "the soundtrack changes its sample rate from {} to {} Hz",
                self.rate,
                frame.rate()
            )));
        }
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let resampler = ff::software::resampling::Context::get(
                frame.format(),
                layout,
                frame.rate(),
                ff::format::Sample::F32(ff::format::sample::Type::Packed),
                ff::ChannelLayout::default(i32::from(self.channels)),
                self.rate,
            )
            .map_err(|err| ProbeError::Decode(format!("swresample: {err}")))?;
            self.resampler = Some((resampler, key));
        }
        let Some((resampler, _)) = self.resampler.as_mut() else {
            return Err(ProbeError::Decode("no resampler".into()));
        };
        let mut out = ff::frame::Audio::empty();
        resampler
            .run(frame, &mut out)
            .map_err(|err| ProbeError::Decode(format!("swresample: {err}")))?;
        let samples = out.samples() * usize::from(self.channels);
        let bytes = out.data(0);
        self.pcm.clear();
        self.pcm.extend(
            bytes
                .chunks_exact(4)
                .take(samples)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        );
        Ok(())
    }
}
