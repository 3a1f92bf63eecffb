#!/usr/bin/env bash
# Runs tools/demo briefly (4 s, a 1 s outage, a restart) with stdout in a file, as CI and logs
# see it, and checks its output contract (documented at the top of tools/demo.cc): the start-up
# lines (the metrics URL included), plain periodic status lines (one with the OUTAGE marker),
# the summary with nothing lost and both faults injected, exit status 0, no backup files left;
# and exit 2 for a bad flag.
set -euo pipefail
demo="$TEST_SRCDIR/sift_stream/tools/demo"
dir="$TEST_TMPDIR/demo"
mkdir -p "$dir/backups"
out="$dir/out.txt"

fail() { echo "demo_test: $*"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$dir/err.txt"; exit 1; }

status=0
timeout 45 "$demo" --duration=4s --outage=1s --restart_down=500ms --rate=5000 \
  --status_interval=500ms --backup_dir="$dir/backups" >"$out" 2>"$dir/err.txt" || status=$?
[ "$status" = 0 ] || fail "exit status $status"

grep -q '^demo: Sift 127\.0\.0\.1:[0-9]* (in-process fake' "$out" || fail "no Sift line"
for flow in imu wheels gps battery status; do
  grep -q "^demo: flow $flow " "$out" || fail "no flow line for $flow"
done
grep -q '^demo: streaming 5,000 msg/s for 4s$' "$out" || fail "no streaming line"
grep -qE '^demo: metrics at http://127\.0\.0\.1:[0-9]+/metrics and http://127\.0\.0\.1:[0-9]+/status$' \
  "$out" || fail "no metrics line"

status_re='^\[ *[0-9]+\.[0-9]s\] sent [0-9,]+ \| acked [0-9,]+ \| on disk ~[0-9,]+ msgs / [0-9]+ files \| re-ingested [0-9,]+ \| [0-9,]+ msg/s \| checkpoints [0-9]+ ok / [0-9]+ failed'
lines=$(grep -cE "$status_re" "$out" || true)
[ "$lines" -ge 6 ] || fail "$lines status lines, expected one every 500 ms"
grep -qE "$status_re \| OUTAGE$" "$out" || fail "no status line marks the outage"
if grep -q $'\r' "$out"; then fail "carriage returns in non-terminal output"; fi

grep -q '^summary$' "$out" || fail "no summary"
grep -qE '^  lost +0$' "$out" || fail "messages lost"
grep -qE '^  committed \(unique\) +[0-9,]+ \(checked key by key' "$out" || fail "no committed row"
grep -qE '^  faults injected +outage of 1s \([0-9,]+ streams refused\), 1 restart' "$out" \
  || fail "faults not injected"
grep -qE '^  re-ingested +[1-9]' "$out" || fail "nothing re-ingested: the outage did not bite"
grep -qE '^  finish +OK after' "$out" || fail "Finish not OK"
grep -q '^result: PASS - all [0-9,]* messages committed, none lost$' "$out" || fail "no PASS"
sent=$(sed -nE 's/^  sent +([0-9,]+) messages.*/\1/p' "$out" | tr -d ,)
[ "$sent" -ge 15000 ] || fail "only $sent messages sent at 5,000 msg/s for 4 s"
if ls "$dir/backups"/*.pbfs >/dev/null 2>&1; then fail "backup files left behind"; fi

if "$demo" --duration=soon >/dev/null 2>"$dir/err2.txt"; then
  echo "demo_test: --duration=soon was accepted"; exit 1
fi
echo "demo_test: ok ($sent messages, $lines status lines)"
