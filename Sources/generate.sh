#!/usr/bin/env bash
# Regenerates every generated source file from its generator (one place, so none is edited by hand):
#
#   bash Sources/generate.sh            rewrite the generated files
#   bash Sources/generate.sh --check    exit 1, naming the file, if a committed file differs from what its
#                                       generator writes now (CI runs this)
#
#   Sources/DWKernels/Depthwise/Direct/DirectBlocks.swift            <- Sources/DWKernels/Depthwise/Direct/DirectBlocks.py (standard library)
#   Sources/DWKernels/Depthwise/Toeplitz/ToeplitzRowsBlocks.swift <- Sources/DWKernels/Depthwise/Toeplitz/ToeplitzRows.py (standard library)
#   Sources/DWCore/BuiltinShapeTexts.swift                        <- Benchmarks/shapes/builtin_sets.py (standard library; reads Benchmarks/shapes/*.txt)
#   Sources/DWKernels/Pointwise/PointwiseTiles.swift <- Sources/DWKernels/Pointwise/PointwiseTiles.py (standard library)
#   Sources/DWConv/ABI.swift, Python/dwconv/src/dwconv/_abi.py <- include/dwconv.h through Sources/DWConv/abi.py (standard
#                                                      library; also checks DWCore's thread limit against the header)
#   Sources/DWModel/ImageNetClasses.swift           <- Benchmarks/data/make_imagenet_classes.py (needs torchvision;
#                                                      skipped, and said so, where it is not installed)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: bash Sources/generate.sh [--check]" >&2; exit 2 ;;
esac
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# generate OUTPUT COMMAND...: COMMAND writes the file's text on stdout.
generate() {
  local out="$1"; shift
  local tmp="$work/$(basename "$out")"
  "$@" > "$tmp"
  if [ $check = 1 ]; then
    if ! cmp -s "$tmp" "$out"; then
      echo "$out differs from what its generator writes: run bash Sources/generate.sh and commit the result" >&2
      failed=1
    fi
  else
    mv "$tmp" "$out"
  fi
}

generate Sources/DWKernels/Depthwise/Direct/DirectBlocks.swift python3 Sources/DWKernels/Depthwise/Direct/DirectBlocks.py
generate Sources/DWKernels/Depthwise/Toeplitz/ToeplitzRowsBlocks.swift python3 Sources/DWKernels/Depthwise/Toeplitz/ToeplitzRows.py
generate Sources/DWKernels/Pointwise/PointwiseTiles.swift python3 Sources/DWKernels/Pointwise/PointwiseTiles.py
generate Sources/DWCore/BuiltinShapeTexts.swift python3 Benchmarks/shapes/builtin_sets.py
generate Sources/DWConv/ABI.swift python3 Sources/DWConv/abi.py swift
generate Python/dwconv/src/dwconv/_abi.py python3 Sources/DWConv/abi.py python
if python3 -c "import torchvision" 2>/dev/null; then
  generate Sources/DWModel/ImageNetClasses.swift python3 Benchmarks/data/make_imagenet_classes.py --stdout
else
  echo "generate: torchvision not installed; Sources/DWModel/ImageNetClasses.swift not regenerated" >&2
fi
[ $failed = 0 ] && [ $check = 1 ] && echo "generated files match their generators"
exit $failed
