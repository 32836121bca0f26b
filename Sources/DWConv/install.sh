#!/usr/bin/env bash
# Installs libdwconv, built by `swift build -c release`, under a prefix:
#   PREFIX/lib/libdwconv.so, PREFIX/include/dwconv.h, PREFIX/lib/pkgconfig/dwconv.pc
# after which `cc prog.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv)` builds a
# program that runs with no LD_LIBRARY_PATH (the .pc carries an rpath to PREFIX/lib; the library carries
# one to the Swift runtime it was linked with).
#   bash Sources/DWConv/install.sh PREFIX
set -euo pipefail
prefix=${1:?usage: bash Sources/DWConv/install.sh PREFIX}
cd "$(dirname "$0")/../.."
lib=.build/release/libdwconv.so
[ -f "$lib" ] || { echo "install.sh: no $lib; run 'swift build -c release' first" >&2; exit 1; }
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
prefix=$(cd "$prefix" && pwd)
version=$(sed -n 's/.*static let packageVersion = "\(.*\)".*/\1/p' Sources/DWTune/Plan.swift)
install -m 0755 "$lib" "$prefix/lib/libdwconv.so"
install -m 0644 include/dwconv.h "$prefix/include/dwconv.h"
tmp=$(mktemp "$prefix/lib/pkgconfig/.dwconv.pc.XXXXXX")
cat > "$tmp" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: dwconv
Description: dwbench's tuned depthwise and 1x1 convolution kernels behind a C ABI
Version: $version
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -ldwconv
Cflags: -I\${includedir}
PC
mv "$tmp" "$prefix/lib/pkgconfig/dwconv.pc"
echo "installed libdwconv $version under $prefix"
