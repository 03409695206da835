//! Playback URLs that need no header: `/v1/play/{media}/{generation}/{token}/{name}`, where the
//! token signs one generation of one item until an expiry. Players fetch them as plain URLs —
//! hls.js, Safari's native HLS, `<video src>`, ffmpeg, a CDN — and relative URIs inside a
//! playlist (`720p.m3u8`, `init.mp4`, `seg-00001.m4s`) resolve to the same token's folder, so a
//! master playlist's media playlists and segments carry its signature with no rewriting.
//!
//! The token is `{expires}.{kid}.{tag}`: the Unix expiry, the id of the key that signed, and an
//! HMAC-SHA256 over the item, the generation and the expiry. Keys derive from the access-token
//! secrets (`VEZA_JWT_SECRET` signs, `VEZA_JWT_PREVIOUS_SECRETS` still verify), under their own
//! label so a playback key is never a token key; rotating the secret rotates both. A URL stops
//! working at its expiry, and at once when its item is deleted or its generation replaced (the
//! route serves published outputs only).

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::key_id;

/// Why a playback token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Well formed and genuine, but past its expiry.
    Expired,
    /// Malformed, unknown key, or a signature that does not match.
    Invalid,
}

/// The keys that sign and verify playback tokens.
#[derive(Clone)]
pub struct PlaybackKeys {
    signing_kid: String,
    keys: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for PlaybackKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackKeys")
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

/// The playback key of a secret: HMAC-SHA256 of a label under it.
fn derive(secret: &[u8]) -> Vec<u8> {
    let mut mac = new_mac(secret);
    mac.update(b"veza-playback-key-v1");
    mac.finalize().into_bytes().to_vec()
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

impl PlaybackKeys {
    /// Keys from the current secret (signs and verifies) and the previous ones (verify only).
    pub fn new(secret: &[u8], previous: &[Vec<u8>]) -> Self {
        let mut keys: HashMap<String, Vec<u8>> =
            previous.iter().map(|old| (key_id(old), derive(old))).collect();
        let signing_kid = key_id(secret);
        keys.insert(signing_kid.clone(), derive(secret));
        Self { signing_kid, keys }
    }

    fn tag(key: &[u8], media_id: Uuid, generation: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = new_mac(key);
        mac.update(b"play\0");
        mac.update(media_id.as_bytes());
        mac.update(generation.as_bytes());
        mac.update(b"\0");
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The token of `generation` of `media_id`, valid until `expires` (Unix seconds).
    pub fn sign(&self, media_id: Uuid, generation: &str, expires: u64) -> String {
        let key = self
            .keys
            .get(&self.signing_kid)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let tag = Self::tag(key, media_id, generation, expires)
            .finalize()
            .into_bytes();
        format!("{expires}.{}.{}", self.signing_kid, hex::encode(tag))
    }

    /// Checks `token` for `generation` of `media_id` at `now` (Unix seconds); the seconds it
    /// stays valid.
    pub fn verify(&self, media_id: Uuid, generation: &str, token: &str, now: u64) -> Result<u64, Refusal> {
        let mut parts = token.splitn(3, '.');
        let (Some(expires), Some(kid), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Refusal::Invalid);
        };
        let expires: u64 = expires.parse().map_err(|_| Refusal::Invalid)?;
        let key = self.keys.get(kid).ok_or(Refusal::Invalid)?;
        let tag = hex::decode(tag).map_err(|_| Refusal::Invalid)?;
        // Constant-time comparison; the signature is checked before the expiry, so an altered
        // expiry is invalid, not expired.
        Self::tag(key, media_id, generation, expires)
            .verify_slice(&tag)
            .map_err(|_| Refusal::Invalid)?;
        expires
            .checked_sub(now)
            .filter(|left| *left > 0)
            .ok_or(Refusal::Expired)
    }

    /// The signed folder of `generation` of `media_id`: a file of it is this plus `/{name}`.
    pub fn folder(&self, media_id: Uuid, generation: &str, expires: u64) -> String {
        format!(
            "/v1/play/{media_id}/{generation}/{}",
            self.sign(media_id, generation, expires)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const OLD: &[u8] = b"the previous secret, still verifying 42";

    #[test]
    fn a_token_verifies_for_its_item_and_generation_until_it_expires() {
        let keys = PlaybackKeys::new(SECRET, &[]);
        let media = Uuid::now_v7();
        let token = keys.sign(media, "g1", 1_000);
        assert_eq!(keys.verify(media, "g1", &token, 400), Ok(600));
        assert_eq!(keys.verify(media, "g1", &token, 1_000), Err(Refusal::Expired));
        assert_eq!(keys.verify(media, "g2", &token, 400), Err(Refusal::Invalid));
        assert_eq!(
            keys.verify(Uuid::now_v7(), "g1", &token, 400),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn an_altered_token_is_invalid_never_expired_or_valid() {
        let keys = PlaybackKeys::new(SECRET, &[]);
        let media = Uuid::now_v7();
        let token = keys.sign(media, "g1", 1_000);
        let later = token.replacen("1000", "9000", 1);
        assert_eq!(keys.verify(media, "g1", &later, 400), Err(Refusal::Invalid));
        let mut flipped = token.clone();
        let last = flipped
            .pop()
            .map(|c| if c == '0' { '1' } else { '0' })
            .unwrap_or('0');
        flipped.push(last);
        assert_eq!(keys.verify(media, "g1", &flipped, 400), Err(Refusal::Invalid));
        for garbage in [
            "",
            "1000",
            "1000.x",
            "abc.def.ghi",
            "1000..",
            &token[..token.len() - 2],
        ] {
            assert_eq!(
                keys.verify(media, "g1", garbage, 400),
                Err(Refusal::Invalid),
                "{garbage}"
            );
        }
    }

    #[test]
    fn a_previous_secret_verifies_what_it_signed_and_a_removed_one_does_not() {
        let media = Uuid::now_v7();
        let before = PlaybackKeys::new(OLD, &[]).sign(media, "g1", 1_000);
        let overlap = PlaybackKeys::new(SECRET, &[OLD.to_vec()]);
        assert_eq!(overlap.verify(media, "g1", &before, 400), Ok(600));
        assert!(overlap.sign(media, "g1", 1_000).contains(&key_id(SECRET)));
        let after = PlaybackKeys::new(SECRET, &[]);
        assert_eq!(after.verify(media, "g1", &before, 400), Err(Refusal::Invalid));
    }
}
