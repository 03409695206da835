//! Integration tests of the API against a real Postgres and a real storage folder. Each test
//! gets its own database and folder; the API runs in-process on a random port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod admin;
mod audit;
mod auth;
mod authorization;
mod chat;
mod clients;
mod data;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod jobs;
mod media;
mod pages;
mod playback;
mod resumable;
mod tokens;
mod webhooks;
