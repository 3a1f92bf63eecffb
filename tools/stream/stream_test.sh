#!/usr/bin/env bash
# Runs tools/stream against testing/fake_sift_server: every row it says it sent must be
# committed at the server (its --stats_file, cumulative over the runs below), bad rows must
# stop (exit 1, naming the line) or be skipped and counted (exit 0), stdin must work like a
# file, and header mistakes are usage errors (exit 2) before anything is sent.
set -euo pipefail
stream="$TEST_SRCDIR/sift_stream/tools/stream/stream"
server="$TEST_SRCDIR/sift_stream/testing/fake_sift_server"
data="$TEST_SRCDIR/sift_stream/tools/stream/testdata"
dir="$TEST_TMPDIR/stream"
mkdir -p "$dir"
export TMPDIR="$dir"  # The tool's temporary backup directories go here, where we can look.

coproc SIFT { exec "$server" --port=0 --stats_file="$dir/stats.json" --stats_interval_ms=50 \
                --api_keys=k 2>"$dir/server.log"; }
read -r port <&"${SIFT[0]}"
server_pid=$SIFT_PID
trap 'kill -TERM $server_pid 2>/dev/null || true' EXIT

run=0
# run EXPECTED_EXIT ARGS...: runs the tool, keeps its output as $dir/out.N / err.N.
run() {
  local expected=$1; shift
  run=$((run + 1))
  local status=0
  "$stream" --uri=127.0.0.1:$port --api_key=k --run_name="test-$run" "$@" \
    >"$dir/out.$run" 2>"$dir/err.$run" || status=$?
  if [ "$status" -ne "$expected" ]; then
    echo "run $run ($*): exit $status, expected $expected"
    cat "$dir/out.$run" "$dir/err.$run"
    exit 1
  fi
}
expect_out() { grep -qF -- "$1" "$dir/out.$run" || { echo "run $run: no '$1' in:"; cat "$dir/out.$run"; exit 1; }; }
expect_err() { grep -qF -- "$1" "$dir/err.$run" || { echo "run $run: no '$1' in:"; cat "$dir/err.$run"; exit 1; }; }
committed() {
  sleep 0.3  # Two stats intervals: the file is rewritten every 50 ms.
  grep -q "\"committed_messages\":$1," "$dir/stats.json" || {
    echo "after run $run: expected $1 committed:"; cat "$dir/stats.json"; exit 1; }
}

# RFC 3339 times (with offsets), a JSON config, an enum by name and key, empty cells.
run 0 --config="$data/config.json" --flow=imu "$data/good_rfc3339.csv"
expect_out "rows read: 5"; expect_out "messages sent: 5"; expect_out "finish: OK"
committed 5

# Epoch milliseconds, a text-format config, flow.channel columns feeding two flows.
run 0 --config="$data/config.txtpb" --time_unit=ms "$data/epoch_ms.csv"
expect_out "rows read: 3"; expect_out "messages sent: 4"
committed 9

# A bad row with --on_error=stop (the default): exit 1 naming line 4; earlier rows still land.
run 1 --config="$data/config.json" --flow=imu --time_unit=s "$data/bad_row.csv"
expect_err "line 4: column 'ax': channel 'ax' (double): 'abc' is not a double"
expect_out "rows sent: 2"; expect_out "finish: OK"
committed 11

# The same file with --on_error=skip: exit 0, the row counted with its reason.
run 0 --config="$data/config.json" --flow=imu --time_unit=s --on_error=skip "$data/bad_row.csv"
expect_out "rows read: 4"; expect_out "rows sent: 3"; expect_out "rows skipped: 1"
expect_out "  line 4: column 'ax'"
committed 14

# stdin ('-') and an explicit --backup_dir, which the tool leaves in place (and empty).
mkdir -p "$dir/backups"
run 0 --config="$data/config.json" --flow=imu --backup_dir="$dir/backups" - \
  <"$data/good_rfc3339.csv"
expect_out "messages sent: 5"; expect_err "stdin"
committed 19
[ -d "$dir/backups" ] || { echo "--backup_dir was removed"; exit 1; }
if ls "$dir/backups"/*.pbfs >/dev/null 2>&1; then echo "acknowledged backups left"; exit 1; fi

# Usage errors (exit 2), before any set-up call: a column no flow has, a missing time unit
# flag value, a config that does not parse. Nothing more may arrive.
run 2 --config="$data/config.json" --flow=imu --time_column=when "$data/good_rfc3339.csv"
expect_err "no time column 'when'"
run 2 --config="$data/config.json" "$data/good_rfc3339.csv"
expect_err "column 'ax' is not 'flow.channel'"
run 2 --config="$data/good_rfc3339.csv" "$data/good_rfc3339.csv"
expect_err "(text format)"
committed 19

# A numeric time without --time_unit is refused, not guessed (a bad row: exit 1, line 2).
run 1 --config="$data/config.json" --flow=imu "$data/bad_row.csv"
expect_err "line 2: time '1714564800.0' is a number"

# The default temporary backup directories were all removed after their OK Finish.
if ls -d "$dir"/sift-stream-* >/dev/null 2>&1; then echo "temp backup dirs left"; ls "$dir"; exit 1; fi
echo "stream tool contract holds ($run runs)"
