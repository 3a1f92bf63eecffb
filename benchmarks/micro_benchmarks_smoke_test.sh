#!/usr/bin/env bash
# Runs each micro-benchmark for a moment so that a broken one fails `bazel test //...`; the
# numbers mean nothing at this size.
set -euo pipefail
micro="$TEST_SRCDIR/sift_stream/benchmarks/micro_benchmarks"
queue="$TEST_SRCDIR/sift_stream/engine/message_queue_benchmark"
out="$TEST_TMPDIR/micro.json"
"$micro" --dir="$TEST_TMPDIR" --benchmark_min_time=0.001 --benchmark_format=json >"$out"
for name in BM_RequestBuild/10 BM_RequestBuildSerialize/1000 BM_PbfsEncode/10 \
            BM_PbfsDecodeMemory BM_PbfsDecodeFile BM_Crc32/142 BM_AppendFileODirect/262144; do
  grep -q "\"name\": \"$name" "$out" || { echo "missing $name"; cat "$out"; exit 1; }
done
if grep -q '"error_occurred": true' "$out"; then echo "a benchmark failed"; cat "$out"; exit 1; fi
"$queue" --benchmark_min_time=0.001 >/dev/null
echo "micro benchmarks ran"
