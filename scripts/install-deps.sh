#!/bin/sh
# install-deps.sh — the Debian packages dlmscope builds and tests with (Debian 12 "bookworm").
# Runs apt-get directly as root, through sudo otherwise. Safe to run again.
set -eu
PKGS="gcc g++ make pkg-config python3
      libjansson-dev libpcre2-dev libutf8proc-dev libopenblas-openmp-dev
      libmsgpack-dev libtermkey-dev libncurses-dev
      libcmocka-dev tmux man-db groff-base zsh
      clang libclang-rt-dev libomp-dev
      python3-numpy python3-msgpack python3-pip python3-setuptools python3-torch"
# clang (with its sanitizer runtimes and OpenMP) builds the libFuzzer targets of `make fuzz`;
# g++ and python3 build the CUDA emulator of `make test-cuda-emu`; man-db + groff-base render the
# man page and zsh runs the zsh completion in the install tests.
# numpy and msgpack are the Python trace writer's dependencies (python/), pip and setuptools install
# it in its test; torch (Debian's CPU build, ~200 MB with its libraries) runs the agreement test of
# the instrumented PyTorch loops against dlmscope's own runs. Without them those tests SKIP loudly.
# Node.js runs the reference tokenizers in the tests; install Debian's only if none is present.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | grep -v 'install ok installed' | cut -d' ' -f1 || true)
# dpkg-query prints nothing for packages it has never heard of: count those as missing too.
for p in $PKGS; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$(echo "$missing" | tr -d ' \n')" ]; then
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $PKGS
fi
echo "dependencies: ok"
