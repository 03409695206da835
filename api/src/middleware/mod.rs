//! What wraps every request, outermost first: the request log ([`request_log`]), the security
//! headers ([`headers`]), the body limit ([`body_limit`]) and who the client is ([`client`]).
//! Each is a plain async function that `startup` composes with poem's `around`.

pub mod body_limit;
pub mod client;
pub mod headers;
pub mod request_log;
