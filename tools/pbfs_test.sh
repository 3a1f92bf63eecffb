#!/usr/bin/env bash
# Runs tools/pbfs the way a user would, on files written by pbfs_test_files (one of them laid
# out by hand from the spec, some damaged), and checks exit codes and output lines; then
# re-ingests into testing/fake_sift_server and checks what the server committed.
set -uo pipefail

readonly PBFS="$TEST_SRCDIR/sift_stream/tools/pbfs"
readonly FILES="$TEST_SRCDIR/sift_stream/tools/pbfs_test_files"
readonly SERVER="$TEST_SRCDIR/sift_stream/testing/fake_sift_server"
readonly WORK="${TEST_TMPDIR:?run me under bazel test}/work"
failures=0

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2; cat "$WORK/out" >&2
  echo "--- stderr:" >&2; cat "$WORK/err" >&2
  failures=$((failures + 1))
}

# Runs pbfs with the given arguments; leaves its exit status in $rc and its output in files.
run() {
  "$PBFS" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
}

expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit status $rc, expected $1"; }
expect_out() { grep -qF -- "$1" "$WORK/out" || fail "$2: stdout lacks: $1"; }
expect_err() { grep -qF -- "$1" "$WORK/err" || fail "$2: stderr lacks: $1"; }

mkdir -p "$WORK/files"
cd "$WORK/files" || exit 1

# The server first: the files' messages must name an ingestion config registered there.
coproc SIFT { exec "$SERVER" --port=0 --stats_file="$WORK/stats.json" --stats_interval_ms=50 \
                --api_keys=secret-test-key 2>"$WORK/server.log"; }
read -r port <&"${SIFT[0]}"
server_pid=$SIFT_PID
trap 'kill -TERM $server_pid 2>/dev/null || true' EXIT
"$FILES" --dir=. --register_at=127.0.0.1:$port --api_key=secret-test-key >"$WORK/offsets" ||
  { echo "pbfs_test_files failed"; exit 1; }
third_chunk=$(sed -n 3p "$WORK/offsets")
last_chunk=$(tail -n 1 "$WORK/offsets")

# inspect: a directory means its .pbfs files (notes.txt skipped); the hand-made file reads.
run inspect good
expect_rc 0 "inspect good"
expect_out "good/a.pbfs" "inspect good"
expect_out "  messages:     1000" "inspect good"
expect_out "  flows:        gps 300, imu 700" "inspect good"
expect_out "  time range:   2024-01-01T00:00:00Z .. 2024-01-01T00:00:00.999Z" "inspect good"
expect_out "good/b.pbfs" "inspect good"
expect_out "  chunks:       3" "inspect good (hand-made: 3 chunks, one empty)"
grep -q "notes.txt" "$WORK/out" && fail "inspect good: a .txt file was inspected"
[ "$(grep -c '  end:          clean' "$WORK/out")" -eq 2 ] || fail "inspect good: not 2 clean files"

run inspect bad/flipped.pbfs bad/truncated.pbfs text.txt
expect_rc 0 "inspect damaged files (inspect reports, verify judges)"
expect_out "  end:          corrupt at offset $third_chunk: chunk at offset $third_chunk" "flipped"
expect_out "bytes skipped in 1 region" "flipped"
expect_out "  end:          torn tail at offset $last_chunk" "truncated"
expect_out "100 tail bytes unread" "truncated"
expect_out "  end:          corrupt at offset 0: not a PBFS file" "text file"

# verify: 0 only if every file is clean and parses; one stderr line per problem file.
run verify good
expect_rc 0 "verify good"
expect_out "ok: good/b.pbfs: 3 messages in 3 chunks" "verify good"
run verify good bad text.txt
expect_rc 1 "verify with damaged files"
[ "$(wc -l <"$WORK/err")" -eq 4 ] || fail "verify: expected 4 problem lines on stderr"
expect_err "bad/flipped.pbfs: corrupt at offset $third_chunk" "verify"
expect_err "bad/truncated.pbfs: torn tail at offset $last_chunk" "verify"
expect_err "bad/garbage.pbfs: 1 message does not parse" "verify"
expect_err "text.txt: corrupt at offset 0: not a PBFS file" "verify"

# Paths that stand for nothing, and usage errors.
run verify missing.pbfs
expect_rc 1 "verify missing path"
expect_err "missing.pbfs: no such file" "verify missing path"
run inspect empty
expect_rc 1 "inspect empty dir"
expect_err "empty: directory holds no .pbfs files" "inspect empty dir"
run frobnicate good
expect_rc 2 "unknown command"
expect_err "unknown command 'frobnicate'" "unknown command"
run verify
expect_rc 2 "verify without files"
run verify --no_such_flag good
expect_rc 2 "unknown flag"
expect_err "unknown flag --no_such_flag" "unknown flag"
run reingest good
expect_rc 2 "reingest without --uri"
expect_err "needs --uri" "reingest without --uri"

# dump: one JSON object per intact message per line; damage on stderr.
run dump --json good/b.pbfs
expect_rc 0 "dump hand-made"
[ "$(wc -l <"$WORK/out")" -eq 3 ] || fail "dump: expected 3 lines"
expect_out '"flow":"imu","timestamp":"2024-01-01T00:00:01.001Z"' "dump hand-made"
run dump --json bad/flipped.pbfs
expect_rc 1 "dump damaged"
[ "$(wc -l <"$WORK/out")" -eq 900 ] || fail "dump damaged: expected the 900 intact messages"
expect_err "pbfs dump: bad/flipped.pbfs: corrupt at offset $third_chunk" "dump damaged"

# reingest: everything committed, files deleted, the summary says so.
cp good/a.pbfs kept-a.pbfs
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key --progress=lines good
expect_rc 0 "reingest good"
expect_out "summary: 2 re-ingested, 0 damaged, 0 unreadable, 0 failed; 1003 messages" "reingest"
expect_err "pbfs reingest: 2/2 files" "reingest progress lines"
grep -q "secret-test-key" "$WORK/out" "$WORK/err" && fail "reingest printed the API key"
[ -e good/a.pbfs ] && fail "reingest left good/a.pbfs behind"
sleep 0.2
grep -q '"committed_messages":1003,' "$WORK/stats.json" || fail "server: $(cat "$WORK/stats.json")"

# A damaged file: its intact messages go, what was skipped is said, the file stays.
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key bad/flipped.pbfs
expect_rc 1 "reingest damaged"
expect_out "damaged      bad/flipped.pbfs: 900 intact messages re-ingested; corrupt at offset $third_chunk" "reingest damaged"
expect_out "9013 bytes skipped in 1 region" "reingest damaged"
[ -e bad/flipped.pbfs ] || fail "reingest deleted the damaged file"

# Another file under a .pbfs name: nothing to send, and it must not be deleted as torn.
cp text.txt notes.pbfs
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key notes.pbfs
expect_rc 1 "reingest of a file that is not PBFS"
expect_out "pbfs reingest: 1 file to 127.0.0.1:$port" "not PBFS"
expect_out "damaged      notes.pbfs: 0 intact messages re-ingested; corrupt at offset 0" "not PBFS"
cmp -s text.txt notes.pbfs || fail "reingest deleted or changed a file that is not PBFS"

# On a terminal (a pty from script(1), 60 columns): a bar redrawn in place, never wider than
# the terminal (a wrapped line cannot be redrawn), ending at 100% on a line of its own.
mkdir -p tty && cp kept-a.pbfs tty/a.pbfs
script -qec "stty cols 60; '$PBFS' reingest --uri=127.0.0.1:$port --api_key=secret-test-key tty" \
  /dev/null >"$WORK/err" 2>&1 </dev/null
rc=$?
: >"$WORK/out"
expect_rc 0 "reingest on a terminal"
grep -qF $'\r\033[K[' "$WORK/err" || fail "terminal: no bar redrawn in place"
grep -qF "] 100%  1/1 files" "$WORK/err" || fail "terminal: the last bar is not at 100%"
grep -qE "^pbfs reingest: [0-9]+/[0-9]+ files" "$WORK/err" && fail "terminal: log-style lines on a terminal"
widest=$(tr '\r' '\n' <"$WORK/err" | sed 's/\x1b\[K//g' | grep -F '] ' | awk '{ print length }' |
  sort -n | tail -n 1)
[ "${widest:-0}" -gt 0 ] && [ "${widest:-0}" -lt 60 ] || fail "terminal: a bar of ${widest:-0} columns on 60"

# --retain keeps the files; a wrong key fails clearly, keeps them and never shows a key.
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key --retain kept-a.pbfs
expect_rc 0 "reingest --retain"
[ -e kept-a.pbfs ] || fail "--retain deleted the file"
[ -e kept-a.pbfs.acked ] || fail "--retain left no .acked marker"
# Acknowledged files are not sent twice unless asked.
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key kept-a.pbfs
expect_rc 0 "reingest of an acknowledged file"
expect_err "skipping kept-a.pbfs: Sift acknowledged it already" "acked marker"
# A directory a live stream holds is refused, naming the holder.
if command -v flock >/dev/null; then
  exec 9>>sift_stream.lock  # This shell holds the lock, as a live stream would.
  flock -n 9
  run reingest --uri=127.0.0.1:$port --api_key=secret-test-key --include_acked kept-a.pbfs
  expect_rc 1 "reingest of a locked directory"
  expect_err "is in use by another live stream" "locked directory"
  exec 9>&-
fi
run reingest --uri=127.0.0.1:$port --api_key=wrong-key-0123456789 --include_acked kept-a.pbfs
expect_rc 1 "reingest with a wrong key"
expect_out "failed       kept-a.pbfs:" "wrong key"
expect_out "summary: 0 re-ingested, 0 damaged, 0 unreadable, 1 failed" "wrong key"
grep -q "wrong-key-0123456789" "$WORK/out" "$WORK/err" && fail "reingest printed the API key"
[ -e kept-a.pbfs ] || fail "a failed reingest deleted the file"

# No server at all: bounded retries, then a failure, files kept.
kill -TERM $server_pid; wait $server_pid 2>/dev/null
run reingest --uri=127.0.0.1:$port --api_key=secret-test-key --max_attempts=2 --deadline_s=20 \
  --include_acked kept-a.pbfs
expect_rc 1 "reingest without a server"
expect_out "1 failed" "reingest without a server"
[ -e kept-a.pbfs ] || fail "reingest without a server deleted the file"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
