//! Accounts' proofs, shared by the API (which checks them) and the email kind (which sends
//! them): one-use [`tokens`] for address verification and password reset, signed
//! unsubscribe [`links`], and login [`sessions`] with their rotating refresh tokens. Not email:
//! the email kind keeps templates and delivery.

pub mod links;
pub mod sessions;
pub mod tokens;
