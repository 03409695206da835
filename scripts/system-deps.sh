#!/usr/bin/env bash
# Installs the system packages the build and the tests use, when they are missing:
#   cmake  — builds libopus (the `opus` crate) from its bundled source;
#   libheif-dev, pkg-config — HEIC/HEIF and AVIF decoding (the `libheif-rs` crate links Debian's
#            libheif 1.15, which brings libde265 for HEVC and dav1d/aom for AV1; the tests make
#            their HEIC/AVIF inputs with libheif's x265 and aom encoders);
#   libav*-dev, libclang-dev — video demuxing and decoding: the `ffmpeg-next` crate links
#            Debian's FFmpeg 5.1 libraries (libavformat, libavcodec, libavutil, libswscale, ...)
#            and generates its bindings with bindgen, which needs libclang;
#   nasm   — assembles rav1e's SIMD kernels (the `ravif` crate, AVIF thumbnails);
#   ffmpeg — ffprobe/ffmpeg check the HLS output in tests (never used by Veza itself);
#   chromium — the playback test plays the HLS output in headless Chromium with hls.js
#              (tests/player; its npm packages install from its lock file);
#              Node.js >= 20 (playwright-core's minimum; Debian 12's nodejs is 18) comes with
#              this kind of machine and is not installed here;
#   moto     — an S3-compatible server (Python, from PyPI) for the S3 storage tests;
#   aiosmtpd — a real SMTP server on loopback (Python, from PyPI) for the SMTP delivery tests;
#   schemathesis — generates requests from the published OpenAPI spec and checks the running
#              platform's answers against it (Python, from PyPI; tests/spec_conformance.rs);
#   (openapi-python-client and ruff, which make the Python SDK and bring its httpx and attrs,
#   are installed at their pinned versions by sdk/python/generate.sh, which its test runs);
#   tuspy    — a tus client in Python for the resumable upload test (tests/uploads.rs);
#   standardwebhooks — the Standard Webhooks reference library, which verifies every delivery
#              the webhook test's receiver gets (tests/webhooks.rs);
#   dockerfile-parse — reads the Dockerfile's stages and instructions for the deployment checks
#              (tests/deploy.rs runs tests/deploy/check.py);
#   check-jsonschema — validates compose.yaml against the Compose specification's schema, which
#              it bundles (works offline);
#   kubernetes-validate — validates the rendered Kubernetes overlays against the schemas of the
#              Kubernetes versions it bundles (offline); its versions decide which ones exist.
set -euo pipefail
python_packages=()
command -v moto_server >/dev/null 2>&1 || python_packages+=("moto[server]>=5,<6")
python3 -c 'import aiosmtpd' 2>/dev/null || python_packages+=("aiosmtpd>=1.4,<2")
# An exact version: a new release may add checks or change what it generates.
schemathesis_version=4.32.5
[ "$(schemathesis --version 2>/dev/null)" = "schemathesis, version $schemathesis_version" ] \
  || python_packages+=("schemathesis==$schemathesis_version")
python3 -c 'import tusclient' 2>/dev/null || python_packages+=("tuspy==1.1.0")
python3 -c 'import standardwebhooks' 2>/dev/null || python_packages+=("standardwebhooks==1.3.0")
python3 -c 'import dockerfile_parse' 2>/dev/null || python_packages+=("dockerfile-parse==2.0.1")
python3 -c 'import check_jsonschema' 2>/dev/null || python_packages+=("check-jsonschema==0.39.0")
python3 -c 'import kubernetes_validate' 2>/dev/null || python_packages+=("kubernetes-validate==1.37.0")
if [ ${#python_packages[@]} -gt 0 ]; then
  echo "installing ${python_packages[*]} with pip" >&2
  python3 -m pip install --quiet "${python_packages[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "${python_packages[@]}"
fi
missing=()
# `system-deps.sh vips` also installs libvips-tools, the thumbnail benchmarks' reference;
# `system-deps.sh pgbench` postgresql-client's pgbench, the queue benchmark's yardstick.
[ "${1:-}" = vips ] && { command -v vipsthumbnail >/dev/null 2>&1 || missing+=(libvips-tools); }
[ "${1:-}" = pgbench ] && { command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-client); }
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists 'libheif >= 1.15' 2>/dev/null || missing+=(libheif-dev)
for lib in libavformat libavcodec libavutil libswscale libswresample libavfilter libavdevice; do
  pkg-config --exists "$lib" 2>/dev/null || missing+=("$lib-dev")
done
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing+=(libclang-dev)
command -v nasm >/dev/null 2>&1 || missing+=(nasm)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
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
