#!/usr/bin/env bash
# Installs the system packages the build and the tests use, when they are missing:
#   cmake  — builds libopus (the `opus` crate) from its bundled source;
#   ffmpeg — ffprobe/ffmpeg check the HLS output in tests (never used by Veza itself);
#   moto   — an S3-compatible server (Python, from PyPI) for the S3 storage tests.
set -euo pipefail
if ! command -v moto_server >/dev/null 2>&1; then
  echo "installing moto[server] with pip" >&2
  python3 -m pip install --quiet "moto[server]>=5,<6" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "moto[server]>=5,<6"
fi
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "installing ${missing[*]} with apt-get" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "error: please install: ${missing[*]} (they are needed to build and test Veza)" >&2
  exit 1
fi
