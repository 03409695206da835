//! The peak resident memory of one [`Av1Encoder`], the measurement behind
//! [`veza_av1::memory_estimate_mib`]: `cargo run -p veza-av1 --example encoder_memory --
//! 1920x1080 240 [SPEED]` feeds that many frames of moving noise (8-bit 4:2:0, 2 tiles, one
//! thread, 4000 kbit/s, a keyframe every 120 frames) and prints the process's `VmHWM` beside the
//! estimate. Linux only (`/proc/self/status`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use veza_av1::{Av1Encoder, Av1Settings, memory_estimate_mib};

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "1920x1080".into());
    let (width, height) = size.split_once('x').expect("WIDTHxHEIGHT");
    let (width, height): (u32, u32) = (width.parse().expect("a width"), height.parse().expect("a height"));
    let frames: u64 = args.next().map_or(240, |n| n.parse().expect("a frame count"));
    let speed: u8 = args.next().map_or(10, |n| n.parse().expect("a speed preset"));
    let settings = Av1Settings {
        speed,
        tiles: 2,
        threads: 1,
        bitrate_kbps: 4000,
        quantizer: 255,
    };
    let mut encoder = Av1Encoder::new(width, height, (30, 1), 120, &settings).expect("an encoder");
    let (w, cw) = (width as usize, width.div_ceil(2) as usize);
    let mut y = vec![0u8; w * height as usize];
    let chroma = vec![128u8; cw * height.div_ceil(2) as usize];
    let mut seed = 1u32;
    let mut bytes = 0;
    for frame in 0..frames {
        // A ramp that moves every frame under noise: every frame costs bits.
        for (i, pixel) in y.iter_mut().enumerate() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *pixel = ((i as u64 + frame * 3) % 200) as u8 + (seed >> 29) as u8;
        }
        for packet in encoder.send(&y, w, &chroma, cw, &chroma, cw).expect("a frame") {
            bytes += packet.data.len();
        }
    }
    for packet in encoder.finish().expect("the last frames") {
        bytes += packet.data.len();
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!(
        "{width}x{height}, speed {speed}, {frames} frames, {bytes} bytes: {peak} (estimate {} MiB)",
        memory_estimate_mib(width, height, speed)
    );
}
