//! Signed one-click unsubscribe links (RFC 8058). The token is `{user_id}.{hmac}`, an
//! HMAC-SHA256 of the user id under the key in `email_link_key`, which both binaries read from
//! the database: the worker signs, the API verifies, with no shared configuration.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

/// The signing key of unsubscribe links.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

const CONTEXT: &[u8] = b"veza-unsubscribe:";

impl LinkKey {
    /// Reads the key (created by the migration).
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        sqlx::query_scalar("select key from email_link_key")
            .fetch_one(pool)
            .await
            .map(Self)
    }

    fn mac(&self, user_id: Uuid) -> Hmac<Sha256> {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(CONTEXT);
        mac.update(user_id.as_bytes());
        mac
    }

    /// The unsubscribe token of `user_id`.
    pub fn unsubscribe_token(&self, user_id: Uuid) -> String {
        let tag = self.mac(user_id).finalize().into_bytes();
        format!("{}.{}", user_id.simple(), hex::encode(tag))
    }

    /// The user an unsubscribe token was signed for; `None` when it is malformed or forged.
    pub fn verify_unsubscribe_token(&self, token: &str) -> Option<Uuid> {
        let (user, tag) = token.split_once('.')?;
        let user_id = Uuid::try_parse(user).ok()?;
        let tag = hex::decode(tag).ok()?;
        // Constant-time comparison.
        self.mac(user_id).verify_slice(&tag).ok().map(|()| user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_under_its_key_only_and_not_once_altered() {
        let key = LinkKey(b"0123456789abcdef0123456789abcdef".to_vec());
        let user = Uuid::now_v7();
        let token = key.unsubscribe_token(user);
        assert_eq!(key.verify_unsubscribe_token(&token), Some(user));
        let other = LinkKey(b"another key, another key, another".to_vec());
        assert_eq!(other.verify_unsubscribe_token(&token), None);
        let someone_else = format!("{}{}", Uuid::now_v7().simple(), &token[32..]);
        assert_eq!(key.verify_unsubscribe_token(&someone_else), None);
        assert_eq!(key.verify_unsubscribe_token("garbage"), None);
    }
}
