#!/usr/bin/env bash
# Runs tools/pbfs_roundtrip the way a user would and checks what it prints and how it exits:
# success ends in one JSON line with "ok":true, and every failure exits non-zero with a message
# that names the path or flag at fault.
set -uo pipefail

readonly BINARY="$1"
readonly WORK="${TEST_TMPDIR:?run me under bazel test}/work"
failures=0

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2; cat "$WORK/out" >&2
  echo "--- stderr:" >&2; cat "$WORK/err" >&2
  failures=$((failures + 1))
}

# Runs the tool with the given flags; leaves its exit status in $rc and its output in files.
run() {
  "$BINARY" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
}

last_stdout_line() { tail -n 1 "$WORK/out"; }

mkdir -p "$WORK"

# Small chunks and files, so that a run of a few thousand messages crosses many chunk and file
# boundaries.
mkdir "$WORK/kept"
run --dir="$WORK/kept" --keep --messages=20000 --channels=3 --chunk_bytes=4096 --file_bytes=100000
if [ "$rc" -ne 0 ]; then fail "small run exited $rc"; fi
case "$(last_stdout_line)" in
  '{"ok":true,"messages":20000,'*) ;;
  *) fail "small run: last stdout line is not the success JSON" ;;
esac
if [ "$(wc -l <"$WORK/out")" -ne 1 ]; then fail "small run: stdout is not exactly one line"; fi
if ! grep -q '"files":[1-9][0-9]' "$WORK/out"; then fail "small run: expected 10+ files"; fi
if [ ! -s "$WORK/kept/roundtrip-000001.pbfs" ] || [ ! -s "$WORK/kept/roundtrip-000002.pbfs" ]; then
  fail "--keep did not keep roundtrip-000001.pbfs and roundtrip-000002.pbfs"
fi
if ! grep -q 'verified: all 20000 messages' "$WORK/err"; then fail "no human summary on stderr"; fi

# A second run into the same directory must refuse to overwrite the first one's files.
before=$(md5sum "$WORK/kept/roundtrip-000001.pbfs")
run --dir="$WORK/kept" --messages=100
if [ "$rc" -eq 0 ]; then fail "run over existing files exited 0"; fi
if ! grep -q 'roundtrip-000001.pbfs' "$WORK/err"; then fail "existing-file error names no file"; fi
if [ "$(md5sum "$WORK/kept/roundtrip-000001.pbfs")" != "$before" ]; then
  fail "run over existing files changed roundtrip-000001.pbfs"
fi

# Without --dir the tool makes its own directory under $TMPDIR and removes it afterwards.
mkdir "$WORK/tmp"
TMPDIR="$WORK/tmp" run --messages=5000
if [ "$rc" -ne 0 ]; then fail "default-directory run exited $rc"; fi
case "$(last_stdout_line)" in '{"ok":true,'*) ;; *) fail "default-directory run: no success JSON" ;; esac
if [ -n "$(ls -A "$WORK/tmp")" ]; then fail "default-directory run left files: $(ls -A "$WORK/tmp")"; fi

# Zero messages is a degenerate but valid run: no files, nothing to verify.
TMPDIR="$WORK/tmp" run --messages=0
if [ "$rc" -ne 0 ]; then fail "zero-message run exited $rc"; fi
if ! grep -q '"messages":0,"files":0,"bytes":0,' "$WORK/out"; then fail "zero-message run JSON"; fi

# A missing directory is the user's mistake: say which path and what to do, exit non-zero.
run --dir="$WORK/does-not-exist" --messages=10
if [ "$rc" -eq 0 ]; then fail "missing directory exited 0"; fi
if ! grep -q "$WORK/does-not-exist does not exist.*--dir" "$WORK/err"; then
  fail "missing-directory message does not name the path and --dir"
fi
case "$(last_stdout_line)" in '{"ok":false,"error":"'*) ;; *) fail "no failure JSON" ;; esac
if [ -e "$WORK/does-not-exist" ]; then fail "the missing directory was created"; fi

run --dir="$WORK/kept/roundtrip-000001.pbfs"
if [ "$rc" -eq 0 ] || ! grep -q 'is not a directory' "$WORK/err"; then
  fail "a file given as --dir was not refused as 'not a directory'"
fi

run --channels=-1
if [ "$rc" -eq 0 ] || ! grep -q -- '--channels=-1 is invalid' "$WORK/err"; then
  fail "--channels=-1 was not refused"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
