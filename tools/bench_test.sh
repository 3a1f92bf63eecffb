#!/usr/bin/env bash
# Runs tools/bench against testing/fake_sift_server and checks bench's contract: exit 0 after
# Finish, the JSON result as the last stdout line with the fields other checks read, and every
# message committed at the server.
set -euo pipefail
bench="$TEST_SRCDIR/sift_stream/tools/bench"
server="$TEST_SRCDIR/sift_stream/testing/fake_sift_server"
dir="$TEST_TMPDIR/bench"
mkdir -p "$dir/backups"

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
sleep 0.2
grep -q '"committed_messages":20000' "$dir/stats.json" || { cat "$dir/stats.json"; exit 1; }
if ls "$dir/backups"/*.pbfs >/dev/null 2>&1; then echo "backup files left behind"; exit 1; fi

# A server that refuses everything: bench must not exit 0.
kill -TERM $server_pid; wait $server_pid || true
if "$bench" --uri=127.0.0.1:$port --api_key=k --messages=10 --backup_dir="$dir/backups" \
     >"$dir/out2.txt" 2>"$dir/err2.txt"; then
  echo "bench exited 0 with no server"; cat "$dir/out2.txt" "$dir/err2.txt"; exit 1
fi
tail -n 1 "$dir/out2.txt" | grep -q '"ok":false' || { echo "no failure JSON"; exit 1; }
echo "bench contract holds: $last"
