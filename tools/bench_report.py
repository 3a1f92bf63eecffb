#!/usr/bin/env python3
"""bench_report — measures sift_stream against the plainest gRPC client and writes
docs/performance.md (issue #7).

Everything runs side by side in one invocation on this machine, against a fresh
`fake_sift_server --sink` per run (it counts messages without parsing them, and reports its own
CPU per message). The engine (tools/bench) and the yardstick (tools/grpc_baseline) are
interleaved round by round, so that a noisy neighbour hits both alike: the report gives each
ratio as the median of the per-round ratios, with the spread (min-max) across rounds. Absolute
numbers on a shared 2-core machine mean little; ratios within one run are what count.

    bazel run -c opt //tools:bench_report              # the full report, <= 15 minutes
    bazel run -c opt //tools:bench_report -- --quick   # a minute or so, for development

Flags: --quick, --rounds=N, --dir=D (backup directory; default a fresh one under /var/tmp,
which must be on the disk being judged), --out=DIR (default <workspace>/docs),
--bin=DIR (where bench, grpc_baseline, ... are; default: this program's runfiles).

Output: docs/performance.md (the hand-written section after the FINDINGS marker is kept),
docs/perf_channels.svg, docs/perf_outage.svg (gnuplot; skipped with a note if missing) and
docs/perf_raw.json (every run's JSON, for whoever wants to look again).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FINDINGS_MARKER = "<!-- FINDINGS: hand-written below this line; bench_report keeps it -->"
API_KEY = "bench-report"

# --- Locating things ------------------------------------------------------------------------


def find_bin_dir(flag):
    """The folder holding tools/bench etc.: --bin, the runfiles, or the workspace's bazel-bin."""
    candidates = [flag] if flag else []
    if os.environ.get("RUNFILES_DIR"):
        candidates.append(os.path.join(os.environ["RUNFILES_DIR"], "sift_stream"))
    candidates.append(os.path.abspath(sys.argv[0]) + ".runfiles/sift_stream")
    candidates.append(os.getcwd())  # `bazel run` starts us in our runfiles' workspace folder.
    candidates.append(os.path.join(workspace(), "bazel-bin"))
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "tools", "bench")):
            return c
    sys.exit("bench_report: cannot find tools/bench; build it or pass --bin")


def workspace():
    return os.environ.get("BUILD_WORKSPACE_DIRECTORY") or os.getcwd()


def binary(name):
    return os.path.join(ARGS.bin_dir, name)


# --- Running one measurement ----------------------------------------------------------------


def process_cpu_ns(pid):
    """utime + stime of a live process, from /proc (clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Server:
    """A fake_sift_server --sink for one run; stats polled from its --stats_file."""

    def __init__(self, extra=(), sink=True):
        self.dir = tempfile.mkdtemp(prefix="srv", dir=ARGS.scratch)
        self.stats_file = os.path.join(self.dir, "stats.json")
        self.proc = subprocess.Popen(
            [binary("testing/fake_sift_server"), "--port=0", "--sink=%s" % str(sink).lower(),
             "--api_keys=" + API_KEY,
             "--stats_file=" + self.stats_file, "--stats_interval_ms=100", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(self.proc.stdout.readline())
        self.started = time.monotonic()

    def uri(self):
        return "127.0.0.1:%d" % self.port

    def stats(self):
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        stats = self.stats()
        shutil.rmtree(self.dir, ignore_errors=True)
        return stats


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return None


def run_client(argv, server=None, sample_rss=False, on_stderr_line=None):
    """Runs one client to completion; returns its JSON plus the server's view of the run."""
    own_server = server is None
    if own_server:
        server = Server()
    argv = [a.replace("URI", server.uri()) for a in argv]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = []
    err_lines = []

    def read_stderr():
        for line in proc.stderr:
            err_lines.append(line)
            if on_stderr_line:
                on_stderr_line(time.monotonic(), line)

    reader = threading.Thread(target=read_stderr)
    reader.start()
    if sample_rss:
        while proc.poll() is None:
            kb = rss_kb(proc.pid)
            if kb is not None:
                rss.append((time.monotonic() - t0, kb))
            time.sleep(0.1)
    out = proc.stdout.read()
    proc.wait()
    reader.join()
    result = last_json(out) or {"ok": False}
    result["exit"] = proc.returncode
    result["elapsed_s"] = time.monotonic() - t0
    if sample_rss:
        result["rss_samples"] = rss
    if own_server:
        stats = server.stop()
        if stats:
            result["server_cpu_ns_per_msg"] = stats["ingest"]["server_cpu_ns_per_message"]
            result["server_messages"] = stats["ingest"]["sink_messages"]
    if not result.get("ok"):
        print("bench_report: FAILED %s\n%s" % (" ".join(argv), "".join(err_lines[-5:])),
              file=sys.stderr)
    RAW.append({"argv": argv, "result": {k: v for k, v in result.items() if k != "rss_samples"}})
    return result


def bench(messages, *flags, backup_dir=None, setup_calls=False):
    """tools/bench on a fresh backup directory (emptied first unless given)."""
    d = backup_dir or fresh_dir()
    return [binary("tools/bench"), "--uri=URI", "--api_key=" + API_KEY,
            "--no_setup_calls=%s" % str(not setup_calls).lower(),
            "--messages=%d" % messages, "--backup_dir=" + d, *flags]


def baseline(messages, *flags):
    return [binary("tools/grpc_baseline"), "--uri=URI", "--api_key=" + API_KEY,
            "--no_setup_calls", "--messages=%d" % messages, *flags]


def fresh_dir():
    d = os.path.join(ARGS.dir, "backups")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def log(msg):
    print("[%5.0f s] %s" % (time.monotonic() - START, msg), file=sys.stderr, flush=True)


# --- Statistics -----------------------------------------------------------------------------


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """'min-max' across rounds, or '' for a single value."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return "%s-%s" % (fmt(min(values)), fmt(max(values)))


def fmt(v, digits=None):
    if v is None:
        return "n/a"
    if digits is not None:
        return "%.*f" % (digits, v)
    if abs(v) >= 1e6:
        return "%.2f M" % (v / 1e6)
    if abs(v) >= 1e4:
        return "%.0f k" % (v / 1e3)
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.2f" % v


# --- The matrix -----------------------------------------------------------------------------


def headline(n, rounds, paced_rate):
    """Live+backups vs live-only vs the baseline, 10 doubles, interleaved per round; then both
    clients paced at one rate below either's maximum, where CPU per message is the work
    itself (flat out, a producer that finds the queue full spins in bench's retry loop)."""
    rows = {"baseline": [], "live+backups": [], "live+backups FlowWriter": [], "live only": [],
            "baseline paced": [], "live+backups paced": [], "live+backups FlowWriter paced": []}
    paced = "--rate=%d" % paced_rate
    for r in range(rounds):
        log("headline round %d/%d" % (r + 1, rounds))
        order = [("baseline", baseline(n)), ("live+backups", bench(n)),
                 ("live+backups FlowWriter", bench(n, "--flow_writer")),
                 ("live only", bench(n, "--no_backups")),
                 ("baseline paced", baseline(n, paced)),
                 ("live+backups paced", bench(n, paced)),
                 ("live+backups FlowWriter paced", bench(n, paced, "--flow_writer"))]
        if r % 2:
            order.reverse()  # Neither side always runs first after the other's cache warm-up.
        for name, argv in order:
            rows[name].append(run_client(argv))
    return rows


def backups_only_vs_dd(n, rounds):
    rows = {"backups only": [], "backups only FlowWriter": [], "dd": []}
    for r in range(rounds):
        log("backups-only round %d/%d" % (r + 1, rounds))
        result = run_client(bench(n, "--backups_only"))
        rows["backups only"].append(result)
        rows["backups only FlowWriter"].append(
            run_client(bench(n, "--backups_only", "--flow_writer")))
        mb = max(64, int(result.get("backup_mb_per_s", 0) * result.get("wall_s", 1)))
        rows["dd"].append(dd_direct(mb))
    return rows


def wide_backups(n, rounds):
    """Backups only with 1000 doubles per message (8 kB): the writer's byte rate when the
    per-message cost stops dominating."""
    runs = []
    for r in range(rounds):
        log("backups-only, 1000 channels, round %d/%d" % (r + 1, rounds))
        runs.append(run_client(bench(n, "--backups_only", "--channels=1000")))
    return runs


COUNTERS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_futex", "syscalls:sys_enter_write",
            "syscalls:sys_enter_io_uring_enter", "syscalls:sys_enter_sendmsg",
            "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_sched_yield",
            "context-switches", "page-faults"]


def perf_works():
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(["perf", "stat", "-x,", "-e", ",".join(COUNTERS), "true"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "not supported" not in probe.stderr


def counters(n, rate):
    """Kernel crossings per 1,000 messages (perf stat), for the findings: where the engine
    pays the kernel that the baseline does not."""
    if not perf_works():
        return None
    rows = {}
    for name, argv in [("grpc_baseline paced", baseline(n, "--rate=%d" % rate)),
                       ("live+backups paced", bench(n, "--rate=%d" % rate)),
                       ("live only paced", bench(n, "--rate=%d" % rate, "--no_backups")),
                       ("grpc_baseline flat out", baseline(n)),
                       ("live+backups flat out", bench(n)),
                       ("backups only flat out", bench(n, "--backups_only"))]:
        log("perf stat: " + name)
        out = os.path.join(ARGS.scratch, "perf_stat.txt")
        result = run_client(["perf", "stat", "-x,", "-o", out, "-e", ",".join(COUNTERS), "--"] +
                            argv)
        counts = {}
        for line in open(out):
            f = line.strip().split(",")
            if len(f) > 2 and f[0].replace(".", "").isdigit():
                counts[f[2].replace("syscalls:sys_enter_", "").replace(
                    "raw_syscalls:sys_enter", "syscalls")] = float(f[0])
        sent = result.get("sent") or 1
        rows[name] = {k: v * 1000 / sent for k, v in counts.items()}
        rows[name]["msgs_per_s"] = result.get("msgs_per_s")
        rows[name]["cpu_ns_per_msg"] = result.get("cpu_ns_per_msg")
    return rows


def dd_direct(mb):
    """dd oflag=direct of `mb` MiB (1 MiB blocks, as AppendFile's buffers) into the same dir."""
    path = os.path.join(ARGS.dir, "dd.tmp")
    t0 = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=%d" % mb,
                    "oflag=direct", "status=none"], check=True)
    seconds = time.monotonic() - t0
    os.unlink(path)
    return {"mb_per_s": mb * 1048576 / seconds / 1e6, "mb": mb, "seconds": seconds}


def reingestion(n, rounds):
    """Backups-only writes files; a bench on that dir (0 new messages) recovers them; also
    `pbfs reingest` on an identical set. Rates are against a live run of the same size."""
    rows = {"live+backups": [], "recovery": [], "pbfs reingest": []}
    for r in range(rounds):
        log("re-ingestion round %d/%d" % (r + 1, rounds))
        rows["live+backups"].append(run_client(bench(n)))
        d = fresh_dir()
        run_client(bench(n, "--backups_only", backup_dir=d))
        rec = run_client(bench(0, backup_dir=d))
        # Process lifetime, not wall_s: recovery starts inside Build, before bench starts its clock.
        rec["reingest_msgs_per_s"] = rec.get("recovered_messages", 0) / rec["elapsed_s"]
        rows["recovery"].append(rec)
        d = fresh_dir()
        run_client(bench(n, "--backups_only", backup_dir=d))
        rows["pbfs reingest"].append(pbfs_reingest(d, n))
    return rows


def pbfs_reingest(d, n):
    server = Server()
    t0 = time.monotonic()
    proc = subprocess.run([binary("tools/pbfs"), "reingest", "--uri=" + server.uri(),
                           "--api_key=" + API_KEY, d], capture_output=True, text=True)
    seconds = time.monotonic() - t0
    stats = server.stop() or {"ingest": {"sink_messages": 0}}
    got = stats["ingest"]["sink_messages"]
    return {"ok": proc.returncode == 0 and got >= n, "messages": got,
            "reingest_msgs_per_s": got / seconds, "seconds": seconds}


def producers(n, rounds):
    rows = {}
    for r in range(rounds):
        for p in (1, 2, 4):
            log("producers=%d round %d/%d" % (p, r + 1, rounds))
            rows.setdefault(p, []).append(run_client(bench(n, "--producers=%d" % p)))
    return rows


def channels(n10, rounds):
    """Messages scaled so every width moves about the same bytes."""
    counts = {1: n10, 10: n10, 100: max(n10 // 8, 1000), 1000: max(n10 // 70, 1000)}
    rows = {}
    for r in range(rounds):
        for c, n in counts.items():
            log("channels=%d round %d/%d" % (c, r + 1, rounds))
            rows.setdefault(c, {"baseline": [], "live+backups": [], "FlowWriter": []})
            rows[c]["baseline"].append(run_client(baseline(n, "--channels=%d" % c)))
            rows[c]["live+backups"].append(run_client(bench(n, "--channels=%d" % c)))
            rows[c]["FlowWriter"].append(
                run_client(bench(n, "--channels=%d" % c, "--flow_writer")))
    return rows


def rss_run(n):
    log("RSS over %d messages (live+backups)" % n)
    return run_client(bench(n), sample_rss=True)


def policies(n, rounds):
    variants = [("on_flush", []), ("interval:100", []), ("bytes:1048576", []), ("never", []),
                ("on_flush", ["--flush_every=100000"]), ("on_flush", ["--flush_every=10000"]),
                ("on_flush", ["--flush_every=1000"])]
    rows = {}
    for r in range(rounds):
        for policy, extra in variants:
            name = policy + (" " + extra[0] if extra else "")
            log("%s round %d/%d" % (name, r + 1, rounds))
            rows.setdefault(name, []).append(
                run_client(bench(n, "--sync_policy=" + policy, *extra)))
    return rows


def outage(rate, seconds, outage_after_s, outage_for_s):
    """A paced bench through a server outage; progress every 100 ms from both sides. The
    sink ignores fault plans, so this one server parses (and the bench makes its set-up
    calls, so that the server knows the flow)."""
    log("outage: %d msgs/s for %d s, outage %d s after %d s" %
        (rate, seconds, outage_for_s, outage_after_s))
    server = Server(["--outage_after_ms=%d" % (outage_after_s * 1000),
                     "--outage_for_ms=%d" % (outage_for_s * 1000),
                     "--stats_interval_ms=20"], sink=False)  # Polled every 100 ms: no aliasing.
    progress = []
    server_samples = []

    def on_line(t, line):
        if line.startswith('{"progress"'):
            progress.append((t - server.started, json.loads(line)["progress"]))

    stop = threading.Event()

    def poll_server():
        while not stop.is_set():
            s = server.stats()
            if s:
                server_samples.append((time.monotonic() - server.started,
                                       s["ingest"]["messages_received"]))
            time.sleep(0.1)

    poller = threading.Thread(target=poll_server)
    poller.start()
    result = run_client(bench(int(rate * seconds), "--rate=%d" % rate,
                              "--progress_interval_ms=100", "--checkpoint_interval_ms=1000",
                              setup_calls=True),
                        server=server, on_stderr_line=on_line)
    time.sleep(0.3)
    stop.set()
    poller.join()
    stats = server.stop() or {"ingest": {}}
    result["outage"] = (outage_after_s, outage_after_s + outage_for_s)
    result["server"] = {k: stats["ingest"].get(k) for k in (
        "messages_received", "unique_messages", "duplicate_messages", "committed_messages",
        "committed_duplicates", "streams_refused", "streams_failed", "invalid_messages")}
    return result, progress, server_samples


def micro():
    log("micro-benchmarks")
    out = subprocess.run([binary("benchmarks/micro_benchmarks"), "--dir=" + ARGS.dir,
                          "--benchmark_format=json",
                          "--benchmark_min_time=%s" % ("0.05" if ARGS.quick else "0.3")],
                         capture_output=True, text=True)
    q = subprocess.run([binary("engine/message_queue_benchmark"), "--benchmark_format=json",
                        "--benchmark_min_time=%s" % ("0.05" if ARGS.quick else "0.3")],
                       capture_output=True, text=True)
    rows = []
    for text in (out.stdout, q.stdout):
        try:
            rows += json.loads(text)["benchmarks"]
        except ValueError:
            pass
    return rows


# --- Plots ----------------------------------------------------------------------------------


def gnuplot(script, data_files):
    if not shutil.which("gnuplot"):
        return False
    if ARGS.png:  # Same plot as a PNG beside the SVG, to look at where SVG cannot be shown.
        png = re.sub(r"set terminal svg size (\d+),(\d+) dynamic",
                     r"set terminal pngcairo size \1,\2", script)
        png = re.sub(r"set output '(.*)\.svg'", r"set output '\1.png'", png)
        script = script + "\nunset output\n" + png
    with tempfile.TemporaryDirectory(dir=ARGS.scratch) as tmp:
        for name, lines in data_files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write("\n".join(lines) + "\n")
        subprocess.run(["gnuplot"], input=script, text=True, cwd=tmp, check=True)
    return True


def plot_channels(rows, path):
    lines = []
    for c in sorted(rows):
        b = med([x.get("msgs_per_s") for x in rows[c]["baseline"]])
        o = med([x.get("msgs_per_s") for x in rows[c]["live+backups"]])
        bm = med([x.get("mb_per_s") for x in rows[c]["baseline"]])
        om = med([x.get("mb_per_s") for x in rows[c]["live+backups"]])
        f = med([x.get("msgs_per_s") for x in rows[c].get("FlowWriter", [])])
        lines.append("%d %f %f %f %f %f" % (c, (b or 0) / 1e3, (o or 0) / 1e3, bm or 0, om or 0,
                                            (f or 0) / 1e3))
    return gnuplot("""
set terminal svg size 800,450 dynamic font 'sans,11'
set output '%s'
set title 'Throughput vs channels per message (doubles; fake Sift sink, loopback)'
set logscale xy
set xlabel 'channels per message'
set ylabel 'k messages/s'
set y2label 'MB/s'
set y2tics
set logscale y2
set key top right
set grid
plot 'c.dat' u 1:2 w lp lw 2 t 'grpc\\_baseline msgs/s', \
     'c.dat' u 1:3 w lp lw 2 t 'sift\\_stream live+backups msgs/s (Send)', \
     'c.dat' u 1:6 w lp lw 2 t 'sift\\_stream live+backups msgs/s (FlowWriter)', \
     'c.dat' u 1:4 axes x1y2 w lp dt 2 t 'grpc\\_baseline MB/s', \
     'c.dat' u 1:5 axes x1y2 w lp dt 2 t 'sift\\_stream MB/s'
""" % path, {"c.dat": lines})


def plot_rss(samples, path):
    lines = ["%f %f" % (t, kb / 1024) for t, kb in samples]
    return gnuplot("""
set terminal svg size 800,400 dynamic font 'sans,11'
set output '%s'
set title 'Resident memory (VmRSS) of bench, live+backups, sampled every 100 ms'
set xlabel 'seconds since start'
set ylabel 'MiB'
set yrange [0:*]
set grid
set key bottom right
plot 'r.dat' u 1:2 w l lw 2 t 'VmRSS', 64 w l dt 2 t '64 MiB target'
""" % path, {"r.dat": lines})


def rates(samples, key, window=3):
    """Rates of a cumulative counter over `window` sampling intervals (300 ms at 100 ms):
    gRPC moves messages in bursts, and per-interval rates would mostly plot the bursts."""
    out = []
    for (t0, a), (t1, b) in zip(samples, samples[window:]):
        if t1 > t0:
            out.append((t1, (b[key] - a[key]) / (t1 - t0)))
    return out


def plot_outage(result, progress, server_samples, path):
    start, end = result["outage"]
    lines = []
    sent = rates(progress, "sent")
    live = rates(progress, "written_live")
    reing = rates(progress, "reingested")
    for (t, s), (_, l), (_, r), (_, p) in zip(sent, live, reing, progress[3:]):
        backlog = p["backed_up"] - p["acknowledged"] - p["reingested"]
        lines.append("%f %f %f %f %f" % (t, s / 1e3, l / 1e3, r / 1e3, backlog / 1e3))
    srv = ["%f %f" % (t, (b - a) / (t - t0) / 1e3)
           for (t0, a), (t, b) in zip(server_samples, server_samples[3:]) if t > t0]
    return gnuplot("""
set terminal svg size 900,480 dynamic font 'sans,11'
set output '%s'
set title 'Through a %d s outage (fake Sift refuses new streams): rates over 300 ms, backlog'
set xlabel 'seconds since the server started'
set ylabel 'k messages/s'
set y2label 'backlog: unconfirmed k messages'
set y2tics
set ytics nomirror
set key outside bottom center horizontal
set grid
set object 1 rect from %f, graph 0 to %f, graph 1 fc rgb '#f4cccc' fs solid 0.5 behind
plot 'o.dat' u 1:2 w l lw 1 t 'Send (producer)', \
     's.dat' u 1:2 w l lw 2 t 'received by Sift (live + re-ingest)', \
     'o.dat' u 1:3 w l lw 1 t 'written live', \
     'o.dat' u 1:4 w l lw 2 t 're-ingested (acknowledged)', \
     'o.dat' u 1:5 axes x1y2 w l lw 2 dt 2 t 'backlog (right axis)'
""" % (path, end - start, start, end), {"o.dat": lines, "s.dat": srv})


# --- The report -----------------------------------------------------------------------------


def ratio_rows(num, den, key_num, key_den=None):
    """Per-round ratios num[i][key] / den[i][key]."""
    key_den = key_den or key_num
    out = []
    for a, b in zip(num, den):
        x, y = a.get(key_num), b.get(key_den)
        out.append(x / y if x and y else None)
    return out


def verdict(value, limit, higher_is_better=True):
    if value is None:
        return "n/a"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "SHORT"


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "-C", workspace(), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or ARGS.commit
    dirty = subprocess.run(["git", "-C", workspace(), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
            "commit": (commit or "unknown") + (" (+ uncommitted changes)" if dirty else ""),
            "load": open("/proc/loadavg").read().split()[:3]}


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def with_spread(values, digits=None):
    """'median (min-max)', or just the value when there is one round."""
    s = spread(values)
    return fmt(med(values), digits) + (" (%s)" % s if s else "")


def metric_row(name, runs, keys):
    return [name] + [with_spread([r.get(k) for r in runs]) for k in keys]


def target(name, ratios, goal, spread_text=None):
    """One row of the targets table; `goal` is ">= x", "<= x" or "< x"."""
    value = med(ratios) if isinstance(ratios, list) else ratios
    limit = float(goal.split()[1])
    text = spread(ratios) if spread_text is None and isinstance(ratios, list) else spread_text
    return (name, value, text or "", goal, verdict(value, limit, goal.startswith(">")))


def live_targets(res):
    """Live stream against the baseline: throughput and CPU, Send and FlowWriter."""
    h = res["headline"]
    paced = fmt(res["paced_rate"])
    return [
        target("live+backups msgs/s ÷ grpc_baseline msgs/s (10 doubles)",
               ratio_rows(h["live+backups"], h["baseline"], "msgs_per_s"), ">= 0.9"),
        target("engine CPU ns/msg ÷ grpc_baseline CPU ns/msg (both flat out)",
               ratio_rows(h["live+backups"], h["baseline"], "cpu_ns_per_msg"), "<= 1.2"),
        target("… with FlowWriter (SiftStream::Flow) instead of Send: msgs/s ratio",
               ratio_rows(h["live+backups FlowWriter"], h["baseline"], "msgs_per_s"), ">= 0.9"),
        target("… with FlowWriter: CPU ns/msg ratio (flat out)",
               ratio_rows(h["live+backups FlowWriter"], h["baseline"], "cpu_ns_per_msg"),
               "<= 1.2"),
        target("engine CPU ns/msg ÷ grpc_baseline CPU ns/msg (both paced at %s msgs/s)" % paced,
               ratio_rows(h["live+backups paced"], h["baseline paced"], "cpu_ns_per_msg"),
               "<= 1.2"),
        target("… with FlowWriter: CPU ns/msg ratio (paced)",
               ratio_rows(h["live+backups FlowWriter paced"], h["baseline paced"],
                          "cpu_ns_per_msg"), "<= 1.2"),
    ]


def backup_targets(res):
    """Backups only: messages per second against 3 M/s, bytes per second against dd."""
    bo = res["backups_only"]
    rows = []
    for label, runs in (("", bo["backups only"]), ("… with FlowWriter: ",
                                                   bo["backups only FlowWriter"])):
        rows.append(target(label + "backups-only msgs/s ÷ 3 M/s",
                           [r["msgs_per_s"] / 3e6 for r in runs if r.get("msgs_per_s")],
                           ">= 1.0"))
        rows.append(target(label + "backups-only byte rate ÷ dd oflag=direct (same dir)",
                           ratio_rows(runs, bo["dd"], "backup_mb_per_s", "mb_per_s"),
                           ">= 0.7"))
    writer = [b.get("bytes_per_second") for b in res["micro"]
              if b["name"].startswith("BM_AppendFileODirect")]
    dd_med = med([r["mb_per_s"] for r in bo["dd"]])
    if writer and writer[0] and dd_med:
        rows.append(target("(diagnostic) AppendFile alone, 256 KiB appends ÷ dd oflag=direct",
                           writer[0] / 1e6 / dd_med, ">= 0.7"))
    rows.append(target("(diagnostic) backups-only, 1000 doubles/msg, byte rate ÷ dd",
                       ratio_rows(res["wide_backups"], bo["dd"], "backup_mb_per_s", "mb_per_s"),
                       ">= 0.7"))
    return rows


def reingest_targets(res):
    """Re-ingestion (start-up recovery and the pbfs tool) against the live rate."""
    ri = res["reingestion"]
    return [
        target("re-ingestion (start-up recovery) msgs/s ÷ live msgs/s",
               ratio_rows(ri["recovery"], ri["live+backups"], "reingest_msgs_per_s",
                          "msgs_per_s"), ">= 0.9"),
        target("re-ingestion (`pbfs reingest`) msgs/s ÷ live msgs/s",
               ratio_rows(ri["pbfs reingest"], ri["live+backups"], "reingest_msgs_per_s",
                          "msgs_per_s"), ">= 0.9"),
    ]


def memory_targets(res):
    """Peak RSS under 64 MiB, and flat after warm-up (growth from 25 % of the run on)."""
    rss = res["rss"]
    samples = rss.get("rss_samples", [])
    peak_mib = max([kb for _, kb in samples] or [rss.get("peak_rss_kb", 0)]) / 1024
    warm = [kb for t, kb in samples if t >= 0.25 * (samples[-1][0] if samples else 0)]
    growth_mib = (max(warm) - warm[0]) / 1024 if warm else None
    return [
        target("peak RSS over %s messages, MiB ÷ 64 MiB" % fmt(res["rss_messages"]),
               peak_mib / 64, "< 1.0", "%.1f MiB" % peak_mib),
        target("RSS growth after warm-up (25 % of the run → peak), MiB ÷ 8 MiB",
               growth_mib / 8 if growth_mib is not None else None, "<= 1.0",
               "%.1f MiB" % growth_mib if growth_mib is not None else ""),
    ]


def compute_targets(res):
    """Every target as (name, ratio, spread, goal, PASS/SHORT), from the runs."""
    return live_targets(res) + backup_targets(res) + reingest_targets(res) + memory_targets(res)


def section_header(res, elapsed):
    """Title and the machine table."""
    m = res["machine"]
    o = []
    o.append("# Performance (issue #7)\n")
    o.append("Generated by `tools/bench_report.py` — do not edit above the findings marker; "
             "re-run instead. Everything below was measured side by side in one run on a "
             "shared, noisy machine: **ratios within the run are what count**, absolute "
             "numbers little. Each ratio is the median of per-round ratios (engine and "
             "baseline interleaved within a round), with the min–max across rounds.\n")
    o.append(table(["machine", ""], [
        ["CPUs (nproc)", m["nproc"]], ["CPU model", m["cpu"]], ["kernel", m["kernel"]],
        ["date", m["date"]], ["commit", m["commit"]],
        ["load average at start", " ".join(m["load"])],
        ["mode", "quick (development; not a measurement)" if ARGS.quick else "full"],
        ["rounds", ARGS.rounds], ["report took", "%.1f min" % (elapsed / 60)],
        ["backup directory", "%s (%s)" % (ARGS.dir, fs_type(ARGS.dir))]]))
    return o


def section_targets(res, targets):
    """The "Targets" section."""
    h = res["headline"]
    o = []
    o.append("\n## Targets\n")
    o.append(table(["target", "measured ratio", "spread", "goal", "verdict"],
                   [[t[0], fmt(t[1], 2), t[2], t[3], "**%s**" % t[4]] for t in targets]))
    o.append("\nThe server is `fake_sift_server --sink` (counts messages without parsing); a "
             "fresh one per run, on loopback, sharing the 2 cores with the client. The "
             "messages are the same for both clients: flow `bench`, 10 doubles, the fixed "
             "config id (`--no_setup_calls`), %s bytes each.\n" %
             fmt(med([r.get("bytes_per_msg") for r in h["live+backups"]])))
    return o


def section_live(res):
    """The "Live stream vs the plainest gRPC client" section."""
    h = res["headline"]
    o = []
    o.append("\n## Live stream vs the plainest gRPC client (%s messages, 10 doubles)\n" %
             fmt(res["n"]))
    keys = ["msgs_per_s", "mb_per_s", "cpu_ns_per_msg", "producer_cpu_ns_per_msg",
            "reactor_cpu_ns_per_msg", "other_cpu_ns_per_msg", "server_cpu_ns_per_msg",
            "peak_rss_kb", "refused"]
    o.append(table(["client", "msgs/s", "MB/s", "client CPU ns/msg", "producer ns/msg",
                    "reactor ns/msg", "other ns/msg", "server CPU ns/msg", "peak RSS kB",
                    "Sends refused (queue full, retried)"],
                   [metric_row(name, runs, keys) for name, runs in h.items()]))
    o.append("\nThe paced rows send at --rate=%s msgs/s (both clients): CPU per message without "
             "the producer's spinning on a full queue.\n" % fmt(res["paced_rate"]))
    o.append("\n`grpc_baseline` is one sync client stream, one request object reused (timestamp "
             "and values changed per message, serialized by gRPC on each write), buffer hint on "
             "63 of every 64 writes; no backups, no validation, one thread.\n")
    return o


def section_backups_only_and_the_disk(res):
    """The "Backups only, and the disk" section."""
    bo = res["backups_only"]
    o = []
    o.append("\n## Backups only, and the disk (%s messages)\n" % fmt(res["n_backups"]))
    o.append(table(["run", "msgs/s", "MB/s to disk", "client CPU ns/msg", "producer ns/msg",
                    "reactor ns/msg"],
                   [metric_row("bench --backups_only", bo["backups only"],
                               ["msgs_per_s", "backup_mb_per_s", "cpu_ns_per_msg",
                                "producer_cpu_ns_per_msg", "reactor_cpu_ns_per_msg"]),
                    metric_row("bench --backups_only --flow_writer", bo["backups only FlowWriter"],
                               ["msgs_per_s", "backup_mb_per_s", "cpu_ns_per_msg",
                                "producer_cpu_ns_per_msg", "reactor_cpu_ns_per_msg"]),
                    metric_row("bench --backups_only --channels=1000", res["wide_backups"],
                               ["msgs_per_s", "backup_mb_per_s", "cpu_ns_per_msg",
                                "producer_cpu_ns_per_msg", "reactor_cpu_ns_per_msg"]),
                    ["dd if=/dev/zero bs=1M oflag=direct (same bytes, same dir)", "",
                     with_spread([r["mb_per_s"] for r in bo["dd"]]), "", "", ""]]))

    if res.get("counters"):
        names = list(res["counters"])
        keys = ["syscalls", "futex", "write", "io_uring_enter", "sendmsg", "epoll_wait",
                "sched_yield", "context-switches", "page-faults"]
        o.append("\n## Kernel crossings per 1,000 messages (perf stat, %s messages)\n" %
                 fmt(res["n"] // 2))
        o.append(table(["per 1,000 messages"] + names,
                       [[k] + [fmt(res["counters"][nm].get(k)) for nm in names] for k in keys] +
                       [["client CPU ns/msg"] + [fmt(res["counters"][nm].get("cpu_ns_per_msg"))
                                                 for nm in names],
                        ["msgs/s"] + [fmt(res["counters"][nm].get("msgs_per_s"))
                                      for nm in names]]))
        o.append("\n`write` on the engine's side is the producers' eventfd wake-up "
                 "(io::Wakeup::Notify); `sched_yield` is bench's retry after a refused Send; "
                 "`futex` is the producer→reactor queue's mutex.\n")
    return o


def section_re_ingestion_vs_live(res):
    """The "Re-ingestion vs live" section."""
    ri = res["reingestion"]
    o = []
    o.append("\n## Re-ingestion vs live (%s messages)\n" % fmt(res["n"]))
    o.append(table(["run", "msgs/s"], [
        metric_row("live+backups", ri["live+backups"], ["msgs_per_s"]),
        metric_row("bench on a dir of leftovers (start-up recovery, 0 new messages)",
                   ri["recovery"], ["reingest_msgs_per_s"]),
        metric_row("pbfs reingest DIR", ri["pbfs reingest"], ["reingest_msgs_per_s"])]))
    return o


def section_producers(res):
    """The "Producers" section: 1, 2 and 4 threads calling Send."""
    o = []
    o.append("\n## Producers (live+backups, %s messages)\n" % fmt(res["n"]))
    o.append(table(["producers", "msgs/s", "client CPU ns/msg", "producer ns/msg",
                    "reactor ns/msg", "Send p50 µs", "Send p99 µs", "Send p99.9 µs"],
                   [metric_row(str(p), runs, ["msgs_per_s", "cpu_ns_per_msg",
                                              "producer_cpu_ns_per_msg", "reactor_cpu_ns_per_msg",
                                              "send_p50_us", "send_p99_us", "send_p999_us"])
                    for p, runs in sorted(res["producers"].items())]))
    o.append("\nSend latency: every 64th Send timed from call to acceptance (waits on a full "
             "queue included).\n")
    return o


def section_channels_per_message(res):
    """The "Channels per message" section."""
    o = []
    o.append("\n## Channels per message\n")
    rows = []
    for c, d in sorted(res["channels"].items()):
        r = ratio_rows(d["live+backups"], d["baseline"], "msgs_per_s")
        fw = ratio_rows(d["FlowWriter"], d["baseline"], "msgs_per_s")
        rows.append([c, fmt(med([x.get("msgs_per_s") for x in d["baseline"]])),
                     fmt(med([x.get("msgs_per_s") for x in d["live+backups"]])),
                     fmt(med([x.get("msgs_per_s") for x in d["FlowWriter"]])),
                     fmt(med([x.get("mb_per_s") for x in d["baseline"]])),
                     fmt(med([x.get("mb_per_s") for x in d["live+backups"]])),
                     fmt(med([x.get("cpu_ns_per_msg") for x in d["baseline"]])),
                     fmt(med([x.get("cpu_ns_per_msg") for x in d["live+backups"]])),
                     fmt(med([x.get("producer_cpu_ns_per_msg") for x in d["live+backups"]])),
                     fmt(med([x.get("producer_cpu_ns_per_msg") for x in d["FlowWriter"]])),
                     with_spread(r, 2), with_spread(fw, 2)])
    o.append(table(["channels", "baseline msgs/s", "ours msgs/s (Send)", "ours msgs/s (FlowWriter)",
                    "baseline MB/s", "ours MB/s", "baseline CPU ns/msg", "ours CPU ns/msg",
                    "producer ns/msg (Send)", "producer ns/msg (FlowWriter)",
                    "ours ÷ baseline msgs/s (Send)", "(FlowWriter)"], rows))
    if res.get("plot_channels"):
        o.append("\n![throughput vs channels](perf_channels.svg)\n")
    return o


def section_sync_policies_and_flush(res):
    """The "Sync policies and Flush" section: what durability costs in throughput."""
    o = []
    o.append("\n## Sync policies and Flush (live+backups, %s messages)\n" % fmt(res["n_policy"]))
    base = med([r.get("msgs_per_s") for r in res["policies"]["on_flush"]])
    o.append(table(["--sync_policy / --flush_every", "msgs/s", "vs on_flush", "flushes",
                    "Flush p50 µs", "Flush p99 µs", "client CPU ns/msg"],
                   [[name, fmt(med([r.get("msgs_per_s") for r in runs])),
                     fmt((med([r.get("msgs_per_s") for r in runs]) or 0) / base, 2) if base else "",
                     "%d" % (med([r.get("flushes") for r in runs]) or 0),
                     fmt(med([r.get("flush_p50_us") for r in runs])),
                     fmt(med([r.get("flush_p99_us") for r in runs])),
                     fmt(med([r.get("cpu_ns_per_msg") for r in runs]))]
                    for name, runs in res["policies"].items()]))
    return o


def section_memory(res):
    """The "Memory" section: RSS sampled over the long run."""
    rss = res["rss"]
    samples = res["rss"].get("rss_samples", [])
    o = []
    o.append("\n## Memory over %s messages (live+backups)\n" % fmt(res["rss_messages"]))
    if samples:
        step = max(1, len(samples) // 12)
        o.append(table(["t (s)"] + ["%.1f" % t for t, _ in samples[::step]],
                       [["VmRSS MiB"] + ["%.1f" % (kb / 1024) for _, kb in samples[::step]]]))
    o.append("\nSampled from /proc/<pid>/status every 100 ms while it ran; %s samples; "
             "run: %s msgs/s.\n" % (len(samples), fmt(rss.get("msgs_per_s"))))
    if res.get("plot_rss"):
        o.append("\n![RSS over time](perf_rss.svg)\n")
    return o


def section_through_an_outage(res):
    """The "Through an outage" section."""
    out_res = res["outage"]
    o = []
    o.append("\n## Through an outage\n")
    o.append("bench at --rate=%s msgs/s, checkpoints every 1 s; the server refuses new streams "
             "from %d s to %d s after it started. Sent %s, acknowledged live %s, re-ingested "
             "%s, ok=%s, finished %.1f s after start.\n" % (
                 fmt(res["outage_rate"]), out_res["outage"][0], out_res["outage"][1],
                 fmt(out_res.get("sent")), fmt(out_res.get("acknowledged")),
                 fmt(out_res.get("reingested")), out_res.get("ok"), out_res.get("elapsed_s", 0)))
    over = (out_res.get("acknowledged") or 0) + (out_res.get("reingested") or 0) - (
        out_res.get("sent") or 0)
    o.append("\nThe server's view (it parses here; the sink ignores faults): %s. "
             "`duplicate_messages` were seen on a stream that failed and again when re-ingested "
             "(at-least-once, expected); `committed_duplicates` must be 0. The engine's "
             "acknowledged + re-ingested exceed sent by %s.\n" % (", ".join(
                 "%s %s" % (k, v) for k, v in out_res.get("server", {}).items()), fmt(over)))
    if res.get("plot_outage"):
        o.append("\n![throughput through an outage](perf_outage.svg)\n")
    return o


def section_micro_benchmarks(res):
    """The "Micro-benchmarks (Google Benchmark)" section."""
    o = []
    o.append("\n## Micro-benchmarks (Google Benchmark)\n")
    o.append(table(["benchmark", "ns/iteration (CPU)", "items/s", "bytes/s"],
                   [[b["name"], "%.0f" % b.get("cpu_time", 0) if b.get("time_unit") == "ns"
                     else "%.3f %s" % (b.get("cpu_time", 0), b.get("time_unit")),
                     fmt(b.get("items_per_second")), fmt(b.get("bytes_per_second"))]
                    for b in res["micro"]]))
    o.append("\nDebian's libbenchmark is a debug build (it says so); that is the harness, not "
             "the code measured. AppendFile writes into the backup directory above.\n")
    return o


def section_reproduce(res):
    """The "Reproduce" section."""
    o = []
    o.append("\n## Reproduce\n")
    o.append("```sh\ntools/setup.sh   # gnuplot-nox for the plots\n"
             "bazel build -c opt //tools:bench_report && bazel run -c opt //tools:bench_report%s\n"
             "# pieces: bazel-bin/testing/fake_sift_server --port=0 --sink --stats_file=s.json\n"
             "#         bazel-bin/tools/grpc_baseline --uri=127.0.0.1:PORT --messages=%d\n"
             "#         bazel-bin/tools/bench --uri=127.0.0.1:PORT --no_setup_calls --messages=%d "
             "--backup_dir=D\n"
             "#         bazel run -c opt //benchmarks:micro_benchmarks\n```\n" %
             (" -- --quick" if ARGS.quick else "", res["n"], res["n"]))
    return o


def write_report(res, elapsed):
    """docs/performance.md: the generated sections, then the kept hand-written findings."""
    targets = compute_targets(res)
    o = section_header(res, elapsed)
    o += section_targets(res, targets)
    o += section_live(res)
    o += section_backups_only_and_the_disk(res)
    o += section_re_ingestion_vs_live(res)
    o += section_producers(res)
    o += section_channels_per_message(res)
    o += section_sync_policies_and_flush(res)
    o += section_memory(res)
    o += section_through_an_outage(res)
    o += section_micro_benchmarks(res)
    o += section_reproduce(res)
    path = os.path.join(ARGS.out, "performance.md")
    findings = "\n" + FINDINGS_MARKER + "\n"
    if os.path.exists(path):
        old = open(path).read()
        if FINDINGS_MARKER in old:
            findings = "\n" + old[old.index(FINDINGS_MARKER):]
    with open(path, "w") as f:
        f.write("\n".join(o) + findings)
    return targets, path


def fs_type(path):
    out = subprocess.run(["df", "--output=fstype", path], capture_output=True, text=True)
    return out.stdout.split()[-1] if out.stdout.split() else "?"


# --- Main -----------------------------------------------------------------------------------


def main():
    global ARGS, RAW, START
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--bin", dest="bin_dir", default=None)
    parser.add_argument("--commit", default="")
    parser.add_argument("--png", action="store_true", help="PNG copies of the plots too")
    ARGS = parser.parse_args()
    RAW = []
    START = time.monotonic()
    ARGS.bin_dir = find_bin_dir(ARGS.bin_dir)
    ARGS.rounds = ARGS.rounds or (1 if ARGS.quick else 3)
    ARGS.out = ARGS.out or os.path.join(workspace(), "docs")
    ARGS.scratch = tempfile.mkdtemp(prefix="bench_report.", dir="/var/tmp")
    own_dir = ARGS.dir is None
    ARGS.dir = ARGS.dir or ARGS.scratch
    os.makedirs(ARGS.dir, exist_ok=True)
    q = ARGS.quick
    n = 200_000 if q else 2_000_000
    res = {"machine": machine(), "n": n}
    try:
        res["micro"] = micro()
        res["paced_rate"] = 100_000 if q else 250_000
        res["headline"] = headline(n, ARGS.rounds, res["paced_rate"])
        res["n_backups"] = n * 3
        res["backups_only"] = backups_only_vs_dd(n * 3, ARGS.rounds)
        res["wide_backups"] = wide_backups(max(n // 40, 2000), ARGS.rounds)
        res["counters"] = counters(n // 2, res["paced_rate"])
        res["reingestion"] = reingestion(n, ARGS.rounds)
        res["producers"] = producers(n, ARGS.rounds if not q else 1)
        res["channels"] = channels(n, ARGS.rounds if not q else 1)
        res["n_policy"] = n // 2
        res["policies"] = policies(n // 2, ARGS.rounds if not q else 1)
        res["rss_messages"] = 1_000_000 if q else 10_000_000
        res["rss"] = rss_run(res["rss_messages"])
        res["outage_rate"] = 50_000 if q else 150_000
        out, progress, srv = outage(res["outage_rate"], 6 if q else 25, 1 if q else 4,
                                    2 if q else 10)
        res["outage"] = out
        os.makedirs(ARGS.out, exist_ok=True)
        res["plot_channels"] = plot_channels(res["channels"],
                                             os.path.join(ARGS.out, "perf_channels.svg"))
        res["plot_outage"] = plot_outage(out, progress, srv,
                                         os.path.join(ARGS.out, "perf_outage.svg"))
        res["plot_rss"] = plot_rss(res["rss"].get("rss_samples", []),
                                   os.path.join(ARGS.out, "perf_rss.svg"))
        elapsed = time.monotonic() - START
        targets, path = write_report(res, elapsed)
        with open(os.path.join(ARGS.out, "perf_raw.json"), "w") as f:
            json.dump({"machine": res["machine"], "runs": RAW}, f, indent=1)
    finally:
        shutil.rmtree(ARGS.scratch, ignore_errors=True)
        if not own_dir:
            shutil.rmtree(os.path.join(ARGS.dir, "backups"), ignore_errors=True)
    for t in targets:
        print("%-70s %6s  %-8s %s" % (t[0], fmt(t[1], 2), t[3], t[4]))
    print("wrote %s in %.1f min" % (path, elapsed / 60))
    failed = [r for r in RAW if not r["result"].get("ok", True)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
