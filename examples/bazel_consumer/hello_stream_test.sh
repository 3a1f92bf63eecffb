#!/usr/bin/env bash
# hello_stream against sift_stream's fake Sift server: all 100 messages must be committed.
set -euo pipefail
hello="$TEST_SRCDIR/$TEST_WORKSPACE/hello_stream"  # Shared by both example workspaces.
server="$TEST_SRCDIR/sift_stream/testing/fake_sift_server"
mkdir -p "$TEST_TMPDIR/backups"
coproc SIFT { exec "$server" --port=0 --stats_file="$TEST_TMPDIR/stats.json" \
                --stats_interval_ms=50 --api_keys=k 2>"$TEST_TMPDIR/server.log"; }
read -r port <&"${SIFT[0]}"
trap 'kill -TERM $SIFT_PID 2>/dev/null || true' EXIT
"$hello" "127.0.0.1:$port" k "$TEST_TMPDIR/backups"
sleep 0.3
grep -q '"committed_messages":100,' "$TEST_TMPDIR/stats.json" || { cat "$TEST_TMPDIR/stats.json"; exit 1; }
echo "hello_stream: 100 messages committed"
