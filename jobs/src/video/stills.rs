//! Stills of a video: the poster (the most detailed of the sampled frames, so never a black
//! fade-in or a blank title card) and the storyboard (a small tile every few seconds, in one
//! sprite with a WebVTT index, for scrubbing previews as Mux and PeerTube offer them).
//!
//! Each chunk samples its own frames while it encodes (every [`Plan::storyboard_every`]-th
//! output frame): it keeps its best poster candidate at full size and its tiles in one strip,
//! both stored as PNG under the generation. Finalize picks the best candidate of all chunks as
//! the poster, which the thumbnail job turns into the item's thumbnails (ladder, ThumbHash,
//! dominant colour), and sheets the strips into the storyboard.

use std::{fmt::Write as _, io::Cursor};

use fast_image_resize::Resizer;
use image::{ExtendedColorType, ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder, codecs::png::PngEncoder};
use serde::{Deserialize, Serialize};

use super::{picture::Picture, plan::Plan};

/// Tiles fit in a square of this many pixels (160x90 for 16:9, 90x160 for a portrait clip).
const TILE_BOX: u32 = 160;
/// Storyboard tiles per row of the sprite.
const SPRITE_COLUMNS: u32 = 10;
/// JPEG quality of the sprite.
const SPRITE_QUALITY: u8 = 75;
/// A frame whose mean luma is outside this (of 16–235) is a fade, not a poster.
const POSTER_LUMA: std::ops::RangeInclusive<f64> = 32.0..=225.0;

/// The size of a storyboard tile for a `width` x `height` picture: within [`TILE_BOX`], aspect
/// kept, even, never larger than the picture.
pub fn tile_size(width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let scale = (f64::from(TILE_BOX) / w.max(h)).min(1.0);
    let even = |v: f64| ((v * scale / 2.0).round() as u32 * 2).max(2);
    (even(w), even(h))
}

/// The file of chunk `index`'s poster candidate.
pub fn poster_candidate_name(index: u32) -> String {
    format!("poster-{index:05}.png")
}

/// The file of chunk `index`'s storyboard tiles.
pub fn tile_strip_name(index: u32) -> String {
    format!("tiles-{index:05}.png")
}

/// What a chunk tells finalize of its stills.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkStills {
    /// Its best poster candidate's score (`None`: it sampled no frame).
    pub poster_score: Option<f64>,
    /// The output frames its tiles show, in order (its strip holds them left to right).
    pub tile_frames: Vec<u64>,
}

/// The stills a chunk collects while it encodes.
pub struct Sampler {
    every: u64,
    tile: (u32, u32),
    best: Option<(f64, Picture)>,
    tiles: Vec<(u64, Picture)>,
}

impl Sampler {
    /// A sampler for frames of `plan`.
    pub fn new(plan: &Plan) -> Self {
        let (width, height) = plan.display_size;
        Self {
            every: plan.storyboard_every,
            tile: tile_size(width, height),
            best: None,
            tiles: Vec::new(),
        }
    }

    /// Looks at output frame `frame` (its global number), showing `picture`.
    pub fn offer(&mut self, frame: u64, picture: &Picture, resizer: &mut Resizer) -> Result<(), String> {
        if self.every == 0 || !frame.is_multiple_of(self.every) {
            return Ok(());
        }
        let tile = picture.scaled(resizer, self.tile.0, self.tile.1)?;
        let score = poster_score(&tile);
        if self.best.as_ref().is_none_or(|(best, _)| score > *best) {
            self.best = Some((score, picture.clone()));
        }
        self.tiles.push((frame, tile));
        Ok(())
    }

    /// The chunk's report, its poster candidate and its tile strip.
    pub fn finish(self) -> Result<SampledStills, String> {
        let poster = self.best.as_ref().map(|(_, p)| png(&to_rgb(p))).transpose()?;
        let strip = if self.tiles.is_empty() {
            None
        } else {
            let (tw, th) = self.tile;
            let mut strip = RgbImage::new(tw * self.tiles.len() as u32, th);
            for (i, (_, tile)) in self.tiles.iter().enumerate() {
                image::imageops::replace(&mut strip, &to_rgb(tile), i64::from(tw) * i as i64, 0);
            }
            Some(png(&strip)?)
        };
        let report = ChunkStills {
            poster_score: self.best.map(|(score, _)| score),
            tile_frames: self.tiles.iter().map(|(frame, _)| *frame).collect(),
        };
        Ok(SampledStills {
            report,
            poster,
            strip,
        })
    }
}

/// A chunk's stills.
pub struct SampledStills {
    /// What finalize reads of them.
    pub report: ChunkStills,
    /// Its best poster candidate, full size, PNG.
    pub poster: Option<Vec<u8>>,
    /// Its storyboard tiles left to right, PNG.
    pub strip: Option<Vec<u8>>,
}

/// A video's storyboard.
pub struct Storyboard {
    /// The sprite, JPEG.
    pub sprite: Vec<u8>,
    /// The sprite's size.
    pub size: (u32, u32),
    /// The WebVTT index.
    pub index: String,
}

/// How good a poster `tile` would make: its luma's spread (detail and contrast), with fades
/// (too dark or too bright on average) ranked below every normal frame.
fn poster_score(tile: &Picture) -> f64 {
    let n = tile.y.len().max(1) as f64;
    let mean = tile.y.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let variance = tile.y.iter().map(|&s| (f64::from(s) - mean).powi(2)).sum::<f64>() / n;
    let spread = variance.sqrt();
    if POSTER_LUMA.contains(&mean) {
        spread + 1000.0
    } else {
        spread
    }
}

/// 8-bit RGB of a limited-range BT.709 picture.
pub fn to_rgb(picture: &Picture) -> RgbImage {
    let (w, h) = (picture.width, picture.height);
    let cw = w.div_ceil(2) as usize;
    RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let luma = picture.y.get(y * w as usize + x).copied().unwrap_or(16);
        let at = (y / 2) * cw + x / 2;
        let (cb, cr) = (
            picture.u.get(at).copied().unwrap_or(128),
            picture.v.get(at).copied().unwrap_or(128),
        );
        let yn = (f32::from(luma) - 16.0) / 219.0;
        let (pb, pr) = ((f32::from(cb) - 128.0) / 224.0, (f32::from(cr) - 128.0) / 224.0);
        let r = yn + 1.5748 * pr;
        let b = yn + 1.8556 * pb;
        let g = (yn - 0.2126 * r - 0.0722 * b) / 0.7152;
        let byte = |v: f32| (v * 255.0).round().clamp(0.0, 255.0) as u8;
        image::Rgb([byte(r), byte(g), byte(b)])
    })
}

fn png(image: &RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|err| format!("encoding a still: {err}"))?;
    Ok(out)
}

/// The storyboard: the chunks' tile strips (PNG, in chunk order, with their reports) sheeted
/// into one JPEG sprite, and its WebVTT index (each tile from its frame's time to the next's,
/// the last to `duration` seconds) naming `sprite_name`.
pub fn storyboard(
    strips: &[(ChunkStills, bytes::Bytes)],
    plan: &Plan,
    duration: f64,
    sprite_name: &str,
) -> Result<Storyboard, String> {
    let (tw, th) = tile_size(plan.display_size.0, plan.display_size.1);
    let frames: Vec<u64> = strips
        .iter()
        .flat_map(|(s, _)| s.tile_frames.iter().copied())
        .collect();
    let count = u32::try_from(frames.len()).map_err(|_| "too many tiles".to_owned())?;
    if count == 0 {
        return Err("no tiles".into());
    }
    let columns = count.min(SPRITE_COLUMNS);
    let rows = count.div_ceil(columns);
    let mut sprite = RgbImage::new(columns * tw, rows * th);
    let mut placed = 0u32;
    for (stills, bytes) in strips {
        let strip = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .map_err(|err| format!("reading a tile strip: {err}"))?
            .to_rgb8();
        for i in 0..stills.tile_frames.len() as u32 {
            let tile = image::imageops::crop_imm(&strip, i * tw, 0, tw, th).to_image();
            let (x, y) = ((placed % columns) * tw, (placed / columns) * th);
            image::imageops::replace(&mut sprite, &tile, i64::from(x), i64::from(y));
            placed += 1;
        }
    }
    let mut jpeg = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut jpeg, SPRITE_QUALITY)
        .write_image(
            sprite.as_raw(),
            sprite.width(),
            sprite.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|err| format!("encoding the storyboard: {err}"))?;
    let mut vtt = String::from("WEBVTT\n");
    for (i, frame) in frames.iter().enumerate() {
        let start = plan.frame_time(*frame);
        let end = frames.get(i + 1).map_or(duration, |next| plan.frame_time(*next));
        let (x, y) = ((i as u32 % columns) * tw, (i as u32 / columns) * th);
        let _ = write!(
            vtt,
            "\n{} --> {}\n{sprite_name}#xywh={x},{y},{tw},{th}\n",
            timestamp(start),
            timestamp(end.max(start))
        );
    }
    Ok(Storyboard {
        size: (sprite.width(), sprite.height()),
        sprite: jpeg.into_inner(),
        index: vtt,
    })
}

/// `seconds` as a WebVTT timestamp, `hh:mm:ss.ttt`.
fn timestamp(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn flat(width: u32, height: u32, luma: u8) -> Picture {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Picture {
            width,
            height,
            y: vec![luma; (width * height) as usize],
            u: vec![128; (cw * ch) as usize],
            v: vec![128; (cw * ch) as usize],
        }
    }

    #[test]
    fn tiles_keep_the_aspect_within_the_box() {
        assert_eq!(tile_size(1920, 1080), (160, 90));
        assert_eq!(tile_size(1080, 1920), (90, 160));
        assert_eq!(tile_size(64, 36), (64, 36));
    }

    #[test]
    fn a_detailed_frame_beats_black_and_flat_ones() {
        let black = flat(32, 18, 16);
        let grey = flat(32, 18, 120);
        let mut busy = flat(32, 18, 120);
        for (i, s) in busy.y.iter_mut().enumerate() {
            *s = if i % 3 == 0 { 40 } else { 200 };
        }
        let mut dark_noise = flat(32, 18, 16);
        for (i, s) in dark_noise.y.iter_mut().enumerate() {
            *s = if i % 7 == 0 { 80 } else { 16 };
        }
        assert!(poster_score(&busy) > poster_score(&grey));
        assert!(poster_score(&grey) > poster_score(&dark_noise));
        assert!(poster_score(&dark_noise) > poster_score(&black));
    }

    #[test]
    fn rgb_of_limited_white_black_and_red() {
        let rgb = to_rgb(&flat(2, 2, 235));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(to_rgb(&flat(2, 2, 16)).get_pixel(1, 1).0, [0, 0, 0]);
        let mut red = flat(2, 2, 63);
        red.u = vec![102];
        red.v = vec![240];
        let [r, g, b] = to_rgb(&red).get_pixel(0, 0).0;
        assert!(r > 250 && g < 5 && b < 5, "{r} {g} {b}");
    }

    #[test]
    fn webvtt_timestamps() {
        assert_eq!(timestamp(0.0), "00:00:00.000");
        assert_eq!(timestamp(3725.5), "01:02:05.500");
    }
}
