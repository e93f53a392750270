#!/usr/bin/env bash
# Build the original gg's gg-force, gg-execute and gg-hash (github.com/StanfordSNR/gg, C++, 2019) on Debian 12 for
# bench/original-gg.sh. None of its code enters this repository: give it a clone of its repository.
# Usage: bench/build-original-gg.sh GG_SOURCE_DIR     (e.g. git clone https://github.com/StanfordSNR/gg)
# What it works around, with nothing changed in the original's files:
#  - configure insists on a toolchain/ submodule (a prebuilt gcc for its infer models): TOOLCHAIN_PATH points at
#    a directory of links to this machine's gcc, cc1, as, ld... instead (gg-force and gg-execute never use it);
#  - its model generators call gcc-7: a gcc-7 link to this machine's gcc, on PATH for the build only;
#  - gcc 12 needs headers the 2019 sources include implicitly (-include cstring ...), and its -Werror fails on
#    newer warnings (PICKY_CXXFLAGS=-Wno-error); C++17 for the newer protobuf headers.
set -euo pipefail
src=$(cd "${1:?usage: build-original-gg.sh GG_SOURCE_DIR}" && pwd)
apt-get install -y -qq protobuf-compiler libprotobuf-dev libcrypto++-dev libhiredis-dev libboost-dev libssl-dev \
  libcap-dev libcpptoml-dev autoconf automake libtool pkg-config >/dev/null
tc=$src/.gg-ts-toolchain
mkdir -p "$tc"
for t in gcc g++ as ld strip ar ranlib; do ln -sf "$(command -v "$t")" "$tc/$t"; done
gccdir=$(dirname "$(gcc -print-prog-name=cc1)")
for t in cc1 cc1plus collect2; do ln -sf "$gccdir/$t" "$tc/$t"; done
ln -sf "$(command -v gcc)" "$tc/gcc-7"
ln -sf "$(command -v g++)" "$tc/g++-7"
export PATH=$tc:$PATH
cd "$src"
[[ -x configure ]] || ./autogen.sh >/dev/null
[[ -f Makefile ]] || ./configure TOOLCHAIN_PATH="$tc" >/dev/null
flags=(PICKY_CXXFLAGS=-Wno-error
  "CXX14_FLAGS=-std=c++17 -pthread -include cstring -include limits -include memory -include stdexcept -include algorithm -include functional -include array -include cstdint")
for d in protobufs util tui net thunk trace sandbox storage execution; do make -j2 -C "src/$d" "${flags[@]}" >/dev/null; done
make -j2 -C src/frontend gg-force gg-execute gg-hash "${flags[@]}" >/dev/null
ls -la src/frontend/gg-force src/frontend/gg-execute src/frontend/gg-hash
