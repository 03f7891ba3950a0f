#!/usr/bin/env bash
# Installs everything Outrigger needs to build and test, from Debian packages and the
# language registries. Idempotent: packages already present are not fetched again.
set -euo pipefail

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang
  libuv1-dev flatbuffers-compiler libflatbuffers-dev libtomlplusplus-dev
  libmimalloc-dev catch2 libcli11-dev libre2-dev rapidjson-dev libvalijson-dev
  libxxhash-dev libcurl4-openssl-dev libclang-rt-14-dev libh2o-dev libssl-dev libhttp-parser-dev
  libsqlite3-dev  # limiter.budget's spent amounts (plugins/limiter_budget)
  ca-certificates python3
  python3-h2  # the HTTP/2 test upstream (tests/upstream/h2_upstream.py)
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
