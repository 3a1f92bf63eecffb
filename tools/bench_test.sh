#!/usr/bin/env bash
# Runs tools/bench against testing/fake_sift_server and checks bench's contract: exit 0 after
# Finish, the JSON result as the last stdout line with the fields other checks read, and every
# message committed at the server.
set -euo pipefail
bench="$TEST_SRCDIR/sift_stream/tools/bench"
server="$TEST_SRCDIR/sift_stream/testing/fake_sift_server"
dir="$TEST_TMPDIR/bench"
mkdir -p "$dir/backups"

# Waits (up to 10 s) until the server's stats file says it committed $2 messages.
wait_committed() {
  for _ in $(seq 100); do
    grep -q "\"committed_messages\":$2," "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server stats: $(cat "$1")"; return 1
}

coproc SIFT { exec "$server" --port=0 --stats_file="$dir/stats.json" --stats_interval_ms=50 \
                --api_keys=k 2>"$dir/server.log"; }
read -r port <&"${SIFT[0]}"
server_pid=$SIFT_PID
trap 'kill -TERM $server_pid 2>/dev/null || true' EXIT

"$bench" --uri=127.0.0.1:$port --api_key=k --messages=20000 --channels=10 \
  --backup_dir="$dir/backups" --checkpoint_interval_ms=100 --producers=2 \
  >"$dir/out.txt" 2>"$dir/err.txt" || { cat "$dir/err.txt"; echo "bench failed"; exit 1; }
last=$(tail -n 1 "$dir/out.txt")
for field in sent msgs_per_s cpu_ns_per_msg reingested checkpoints checkpoints_failed \
             dropped_live; do
  echo "$last" | grep -q "\"$field\":" || { echo "missing $field in: $last"; exit 1; }
done
echo "$last" | grep -q '"sent":20000' || { echo "wrong count: $last"; exit 1; }
echo "$last" | grep -q '"ok":true' || { echo "not ok: $last"; exit 1; }
wait_committed "$dir/stats.json" 20000 || exit 1
if ls "$dir/backups"/*.pbfs >/dev/null 2>&1; then echo "backup files left behind"; exit 1; fi

# A server that refuses everything: bench must not exit 0.
kill -TERM $server_pid; wait $server_pid || true
if "$bench" --uri=127.0.0.1:$port --api_key=k --messages=10 --backup_dir="$dir/backups" \
     >"$dir/out2.txt" 2>"$dir/err2.txt"; then
  echo "bench exited 0 with no server"; cat "$dir/out2.txt" "$dir/err2.txt"; exit 1
fi
tail -n 1 "$dir/out2.txt" | grep -q '"ok":false' || { echo "no failure JSON"; exit 1; }

# Leftovers and Flush: a backups-only run leaves files; the next run (a new server) recovers
# them before exiting 0, and its progress file holds the last count Flush confirmed.
coproc SIFT2 { exec "$server" --port=0 --stats_file="$dir/stats2.json" --stats_interval_ms=50 \
                 --api_keys=k 2>"$dir/server2.log"; }
read -r port2 <&"${SIFT2[0]}"
server2_pid=$SIFT2_PID
trap 'kill -TERM $server2_pid 2>/dev/null || true' EXIT
"$bench" --uri=127.0.0.1:$port2 --api_key=k --messages=3000 --backups_only \
  --start_us=1000000 --backup_dir="$dir/backups" >"$dir/out3.txt" 2>"$dir/err3.txt" \
  || { cat "$dir/err3.txt"; echo "backups-only bench failed"; exit 1; }
ls "$dir/backups"/*.pbfs >/dev/null || { echo "backups-only left no files"; exit 1; }
"$bench" --uri=127.0.0.1:$port2 --api_key=k --messages=2000 --start_us=2000000 \
  --flush_every=500 --progress_file="$dir/progress" --checkpoint_interval_ms=100 \
  --backup_dir="$dir/backups" >"$dir/out4.txt" 2>"$dir/err4.txt" \
  || { cat "$dir/err4.txt"; echo "recovering bench failed"; exit 1; }
last4=$(tail -n 1 "$dir/out4.txt")
[ "$(cat "$dir/progress")" = 2000 ] || { echo "progress file: $(cat "$dir/progress")"; exit 1; }
echo "$last4" | grep -q '"flushes":4,' || { echo "flush count: $last4"; exit 1; }
echo "$last4" | grep -q '"recovered_messages":3000,' || { echo "recovery: $last4"; exit 1; }
wait_committed "$dir/stats2.json" 5000 || exit 1
if ls "$dir/backups"/*.pbfs >/dev/null 2>&1; then echo "recovered files left behind"; exit 1; fi
# --max_file_bytes: small files rotate (10,000 messages are ~1.5 MB: one file by default).
mkdir -p "$dir/small"
"$bench" --uri=127.0.0.1:$port2 --api_key=k --messages=10000 --backups_only \
  --max_file_bytes=65536 --backup_dir="$dir/small" >"$dir/out5.txt" 2>"$dir/err5.txt" \
  || { cat "$dir/err5.txt"; echo "small-file bench failed"; exit 1; }
files=$(ls "$dir/small"/*.pbfs | wc -l)
[ "$files" -ge 3 ] || { echo "--max_file_bytes=65536 made $files file(s)"; exit 1; }
# --memory_backups_mb: live with a memory ring, no files; everything committed.
mkdir -p "$dir/memory"
"$bench" --uri=127.0.0.1:$port2 --api_key=k --messages=5000 --start_us=3000000 \
  --memory_backups_mb=16 --backup_dir="$dir/memory" >"$dir/out6.txt" 2>"$dir/err6.txt" \
  || { cat "$dir/err6.txt"; echo "memory-backups bench failed"; exit 1; }
if ls "$dir/memory"/* >/dev/null 2>&1; then echo "memory backups wrote files"; exit 1; fi
wait_committed "$dir/stats2.json" 10000 || exit 1
if "$bench" --messages=10 --memory_backups_mb=16 --no_backups >/dev/null 2>&1; then
  echo "--memory_backups_mb with --no_backups was accepted"; exit 1
fi
if "$bench" --messages=10 --max_file_bytes=0 >/dev/null 2>&1; then
  echo "--max_file_bytes=0 was accepted"; exit 1
fi
if "$bench" --messages=10 --flush_every=5 --producers=2 >/dev/null 2>&1; then
  echo "--flush_every with 2 producers was accepted"; exit 1
fi
echo "bench contract holds: $last"
