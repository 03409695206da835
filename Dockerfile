# syntax=docker/dockerfile:1
#
# Veza's container images: one build, two final images on one runtime base, each with its
# binary and the libraries it links.
#
#   docker build --target api    -t veza-api .      # veza-api (serve; `migrate` as a one-shot)
#   docker build --target worker -t veza-worker .   # veza-worker
#
# Both run as uid 10001 and work with a read-only root filesystem: the only folder they write is
# VEZA_DATA_DIR (/var/lib/veza: the worker's scratch copies of originals and, without SMTP, its
# outbox), which a deployment mounts as a volume. tests/deploy/check.py checks this file: its
# stages, a numeric non-root USER and a HEALTHCHECK in every final image, the builder's Rust
# version, and that each image installs the packages of every library its built binary links.

# Debian 12 (bookworm) on both sides: `ffmpeg-next` is pinned to FFmpeg 5.1 (libavcodec 59) and
# `libheif-rs` to libheif 1.15, the versions bookworm ships; trixie's are newer and do not fit.
# The Rust version is the workspace's `rust-version` (Cargo.toml).
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-bookworm AS builder
# The build's system libraries, as scripts/system-deps.sh installs them for a developer:
# cmake (libopus), pkg-config + libheif-dev (HEIC/AVIF), the libav*-dev (FFmpeg 5.1) and
# libclang-dev (bindgen for ffmpeg-sys-next), nasm (rav1e's and OpenH264's assembly).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake pkg-config nasm libclang-dev libheif-dev \
      libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev \
      libavfilter-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace (see .dockerignore): cargo needs every member's manifest, and
# .cargo/config.toml carries build settings (SQLX_OFFLINE, jemalloc's page return).
COPY . .
# Cache mounts keep the crates.io downloads and the compiled dependencies between builds, so a
# change to Veza's code rebuilds Veza's crates only. The binaries leave the cached target folder
# in the same step. Only the two service binaries are built (not the benchmarks).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin veza-api --bin veza-worker \
 && install -D -m 0755 -t /out target/release/veza-api target/release/veza-worker

# The runtime base of both images: ca-certificates (S3 and SMTP over TLS), curl and the user.
# Each binary's own shared libraries are installed by its image below (`readelf -d`/`ldd` of the
# binaries, mapped to bookworm's packages; tests/deploy/check.py compares them with the built
# binaries): the API links nothing beyond the C and C++ runtimes of the slim image itself.
# Opus, fdk-aac, libwebp, OpenH264 and jemalloc are built from source into the binaries.
#
# curl is the health check's client. The binaries have no "check yourself" subcommand and the
# slim image has no HTTP client; curl costs a few MB, and a check with bash's /dev/tcp would not
# read the HTTP status reliably. Orchestrators that probe over HTTP themselves (Kubernetes,
# deploy/kubernetes) do not use it.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 veza \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/veza --no-create-home \
      --shell /usr/sbin/nologin veza \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/veza
# Data folder (VEZA_DATA_DIR): `{data}/scratch` and `{data}/outbox` by default. A named volume
# mounted here starts with this folder's owner (10001). No VOLUME line: the API writes nothing
# there and would get an anonymous volume for nothing.
ENV VEZA_DATA_DIR=/var/lib/veza \
    RUST_LOG=info,sqlx=warn
WORKDIR /var/lib/veza
# The binaries handle SIGTERM themselves (the worker drains: VEZA_SHUTDOWN_TIMEOUT_SECONDS, 30 s
# by default, plus 10 s to release cancelled jobs) and start no child processes, so they run as
# PID 1 without an init. Give the worker more than the drain to stop: `docker stop -t 45`,
# compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM

# veza-worker: consumes the queues named by VEZA_QUEUES (every queue by default) and serves
# /healthz, /readyz and /metrics on VEZA_METRICS_LISTEN (127.0.0.1:9464 by default; all
# interfaces here, so probes and Prometheus reach it).
FROM runtime AS worker
# FFmpeg 5.1 (demuxing, decoding, scaling, resampling) and libheif (which brings libde265, dav1d
# and aom): what veza-worker links.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libavformat59 libavcodec59 libavutil57 libswscale6 libswresample4 libheif1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /out/veza-worker /usr/local/bin/
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
ENV VEZA_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 9464
# /readyz: the database answers, every served queue has a consumer, and the worker is not
# draining. The port is read from VEZA_METRICS_LISTEN, so a changed port is still checked (a
# port of 0, "pick a free one", cannot be).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS --max-time 4 -o /dev/null "http://127.0.0.1:${VEZA_METRICS_LISTEN##*:}/readyz" || exit 1
ENTRYPOINT ["/usr/local/bin/veza-worker"]

# veza-api: serves the API on VEZA_LISTEN (127.0.0.1:8080 by default; all interfaces here).
# `docker run … veza-api migrate` brings the schema up to date and exits: run it once before
# starting (or upgrading) the API and the workers.
FROM runtime AS api
COPY --from=builder /out/veza-api /usr/local/bin/
USER 10001:10001
# The API allocates with glibc's malloc (the worker has jemalloc). Each password hash takes a
# 19 MiB block (argon2); glibc's adaptive mmap threshold soon serves such blocks from per-thread
# heaps that keep them, so 80 hashes (40 registrations and logins, 8 at a time) took the API
# from 45 to 469 MB, and more arenas on larger machines would keep more. A fixed threshold of
# 1 MiB hands every large block back when freed: 78 MB for the same load (2026-12-06, 2 cores).
ENV VEZA_LISTEN=0.0.0.0:8080 \
    MALLOC_MMAP_THRESHOLD_=1048576
EXPOSE 8080
# /readyz: the database and the object storage answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS --max-time 4 -o /dev/null "http://127.0.0.1:${VEZA_LISTEN##*:}/readyz" || exit 1
ENTRYPOINT ["/usr/local/bin/veza-api"]
CMD ["serve"]
