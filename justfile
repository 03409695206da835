# Veza's everyday recipes. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

target := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")

# List the recipes.
default:
    @just --list

# Run the platform: Postgres ready → migrations → API and one worker (Ctrl-C stops both).
# Release binaries: a debug build transcodes and resizes 5-7x slower than the references
# (bench/README.md, `just bench-up`); `just test` and CI stay on debug builds.
up:
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    base=$(scripts/postgres.sh)
    export DATABASE_URL="${DATABASE_URL:-$base/veza}"
    # A local platform: without VEZA_JWT_SECRET, a random key (tokens die on restart). Set
    # VEZA_JWT_SECRET for anything else; without development mode the API demands one.
    export VEZA_DEV_MODE="${VEZA_DEV_MODE:-1}"
    scripts/postgres.sh create-db "$DATABASE_URL"
    cargo build --release --bins
    "{{target}}/release/veza-api" migrate
    "{{target}}/release/veza-api" & api=$!
    "{{target}}/release/veza-worker" & worker=$!
    # Ctrl-C reaches both processes (same process group); each drains and exits. If either
    # stops on its own, stop the other too.
    trap 'kill -TERM $api $worker 2>/dev/null || true' TERM
    trap '' INT
    wait -n $api $worker || true
    kill -TERM $api $worker 2>/dev/null || true
    wait

# Run every test: unit, integration (real Postgres) and end-to-end (real binaries).
test:
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    base=$(scripts/postgres.sh)
    scripts/postgres.sh drop-test-dbs "$base"
    export DATABASE_URL="$base/postgres"
    cargo build --workspace --bins
    cargo test --workspace --no-fail-fast

# Every benchmark.
bench: bench-up bench-queue bench-thumbs bench-audio bench-video bench-fleet bench-chat

# Upload to ready on the platform as `just up` runs it (release binaries, default settings): a
# 3-minute FLAC and a 24-megapixel JPEG, beside ffmpeg's ladder and vipsthumbnail in the same run.
bench-up runs="5":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh vips
    base=$(scripts/postgres.sh)
    cargo build --release --bins
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-up" {{runs}}

# Thumbnails: a 24-megapixel JPEG to the full ladder through Veza's thumbnail job, beside
# vipsthumbnail (Debian libvips-tools) producing the same sizes and formats.
bench-thumbs runs="5":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v vipsthumbnail >/dev/null || scripts/system-deps.sh vips
    base=$(scripts/postgres.sh)
    cargo build --release --bin bench-thumbs
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-thumbs" {{runs}}

# Debian's ffmpeg is the reference and generates the inputs (bench/README.md has the command).
# Audio: a 3-minute FLAC through Veza's default ladder beside ffmpeg's; peak RSS for 1 min to 1 h.
bench-audio runs="3":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    cargo build --release --bin bench-audio
    "{{target}}/release/bench-audio" {{runs}}

# Video: a 1080p clip (30 s by default) to the default AV1 ladder on the release platform, beside
# ffmpeg with librav1e and with libsvtav1 making the same ladder; then one and two workers of one
# thread each, with every worker's peak RSS.
# `just bench-video 30 fleet` runs one part (compare, chunks, fleet, or veza: Veza's run alone).
bench-video seconds="30" parts="compare,chunks,fleet":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    base=$(scripts/postgres.sh)
    cargo build --release --bins
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-video" {{seconds}} {{parts}}

# The fleet: one batch of mixed media (music, photos, a video) by 1, 2 and 4 worker processes of
# one thread each, queues split as the Kubernetes groups split them, one database, S3 on moto;
# wall time, speed-up and a model of N machines checked against it.
bench-fleet rounds="2":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    base=$(scripts/postgres.sh)
    cargo build --release --bins
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-fleet" {{rounds}}

# The queue: Veza's worker path with no-op jobs beside graphile-worker, same Postgres, same run,
# with pgbench's rate on that server before and after (postgresql-client).
bench-queue jobs="20000" rounds="3":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v pgbench >/dev/null || scripts/system-deps.sh pgbench
    base=$(scripts/postgres.sh)
    (cd bench/graphile && npm ci --no-audit --no-fund --loglevel=error)
    cargo build --release --bin veza-worker --bin bench-queue
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-queue" {{jobs}} {{rounds}}

# The chat socket: 1,000 clients in 100 rooms through Veza (persisted) and through a reference
# broadcast server on npm `ws` (in memory), same frames, same run; then 10,000 idle sockets.
bench-chat rounds="2" seconds="30" idle="10000":
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/system-deps.sh
    base=$(scripts/postgres.sh)
    (cd bench/chat-ref && npm ci --no-audit --no-fund --loglevel=error)
    cargo build --release --bins
    DATABASE_URL="$base/postgres" "{{target}}/release/bench-chat" {{rounds}} {{seconds}} {{idle}}

# Regenerate openapi/openapi.json from the code.
openapi:
    cargo run --quiet --bin veza-api -- openapi > openapi/openapi.json

# Regenerate the SDKs from openapi/openapi.json with their pinned generators: TypeScript
# (openapi-typescript, Node.js), Python (openapi-python-client, PyPI) and Rust (progenitor, run by
# sdk/rust/build.rs at every build). `just test` fails while a checked-in SDK is out of date.
sdk:
    cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run generate && npm run build
    sdk/python/generate.sh
    cargo build --quiet -p veza-sdk --examples

# Fail when openapi/openapi.json differs from what the code generates.
verify-openapi:
    cargo run --quiet --bin veza-api -- openapi | diff -u openapi/openapi.json -

# Format the code.
fmt:
    cargo fmt --all

# Lints: rustfmt check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
