//! What wraps every request, outermost first: the request log ([`request_log`]), the security
//! headers ([`headers`]) and the body limit ([`body_limit`]). Each is a plain async function
//! that `startup` composes with poem's `around`.

pub mod body_limit;
pub mod headers;
pub mod request_log;
