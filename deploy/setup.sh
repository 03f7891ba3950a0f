#!/usr/bin/env bash
# Installs everything Outrigger needs to build and test, from Debian packages and the
# language registries. Idempotent: packages already present are not fetched again.
#   deploy/setup.sh          what building and serving need
#   deploy/setup.sh --test   and what only the tests use (promtool, from Debian's prometheus)
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
if [ "${1:-}" = "--test" ]; then
  DEBIAN_PACKAGES+=(prometheus)  # promtool checks a live /metrics scrape (tests/integration/metrics_test.cc)
fi

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
  # The tests want promtool only: a Prometheus server this run installed does not stay running.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
     systemctl is-enabled prometheus >/dev/null 2>&1; then
    $sudo_cmd systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
