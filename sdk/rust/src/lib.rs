//! Veza's HTTP API from Rust: a client generated from `openapi/openapi.json` by progenitor
//! (builder style) when this crate is built — `build.rs` says how the spec is adapted for the
//! generator. Start with [`Client::new_with_client`] and a `reqwest::Client` that sends your
//! bearer token; `examples/walkthrough.rs` uploads a file and waits for it.

// Generated code: its docs come from the spec, its style from the generator.
#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs, unused)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
}

pub use generated::*;
