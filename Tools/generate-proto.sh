#!/usr/bin/env bash
# Regenerates the protobuf-c C code of the ONNXProto target from Schema/onnx.proto.
# Needs protoc-c (Debian package protobuf-compiler / protobuf-c-compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc-c >/dev/null || { echo "protoc-c not found: apt-get install protobuf-c-compiler" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc-c --proto_path=Schema --c_out="$out" Schema/onnx.proto
# The header goes under include/ so Swift sees it; the source includes it by file name.
sed 's|#include "onnx.pb-c.h"|#include "include/onnx.pb-c.h"|' "$out/onnx.pb-c.c" > Sources/ONNXProto/onnx.pb-c.c
cp "$out/onnx.pb-c.h" Sources/ONNXProto/include/onnx.pb-c.h
echo "regenerated Sources/ONNXProto from Schema/onnx.proto" >&2
