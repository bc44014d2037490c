#!/usr/bin/env bash
# Installs every Debian 12 package ModelGrow builds, tests and runs with.
# Idempotent: when everything is present it installs nothing and returns in seconds.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git pkg-config python3
  libtorch-dev libopenblas0-pthread libgloo-dev
  libboost-dev libboost-program-options-dev
  libhdf5-dev hdf5-tools python3-h5py
  libfmt-dev libtomlplusplus-dev nlohmann-json3-dev libprotobuf-dev protobuf-compiler
  libsentencepiece-dev sentencepiece
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
)

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for fully installed packages.
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
