#!/usr/bin/env bash
# Installs the Debian packages that sift_stream C++ builds, tests and runs with.
# Idempotent: packages already present are reported and left alone.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-rules-java
  g++ pkg-config zlib1g-dev
  liburing-dev
  libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler
  libabsl-dev libgflags-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-glog-dev libcivetweb-dev prometheus
  python3 python3-dev pybind11-dev
  gnuplot-nox
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "setup: $p already installed"
  else
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present, nothing to do"
  exit 0
fi

echo "setup: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: installed ${#missing[@]} package(s): ${missing[*]}"
