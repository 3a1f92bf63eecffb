"""python/fake_sift.py — the fake Sift server (//testing:fake_sift_server) as a subprocess.

For the tests and the example: starts the server on a free loopback port, reads the port from
its first stdout line (the server's contract), and reads the stats it keeps in --stats_file
(rewritten atomically while it runs and once more as it exits, so the stats read after stop()
are final). The binary comes from the runfiles of the py_test/py_binary that has
//testing:fake_sift_server in its data.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

_BINARY = os.path.join("sift_stream", "testing", "fake_sift_server")


def _runfiles_roots():
    # Tests get TEST_SRCDIR; `bazel run` of a py_binary sets nothing, but its launcher runs
    # the main script from inside the runfiles tree (sys.argv[0] keeps that path).
    for var in ("TEST_SRCDIR", "RUNFILES_DIR"):
        if os.environ.get(var):
            yield os.environ[var]
    marker = ".runfiles" + os.sep
    if marker in sys.argv[0]:
        yield sys.argv[0][:sys.argv[0].index(marker) + len(marker)]


def _find_binary():
    for root in _runfiles_roots():
        if os.path.exists(os.path.join(root, _BINARY)):
            return os.path.join(root, _BINARY)
    raise FileNotFoundError(
        "fake_sift_server not in the runfiles: add //testing:fake_sift_server to data")


class FakeSiftServer:
    """Usage: `with FakeSiftServer("--api_keys=k") as server: ... server.uri ...`."""

    def __init__(self, *flags, quiet=False):
        self._flags = list(flags)
        self._quiet = quiet
        self._dir = tempfile.mkdtemp(prefix="fake_sift_", dir=os.environ.get("TEST_TMPDIR"))
        self.stats_file = os.path.join(self._dir, "stats.json")
        self.process = None
        self.port = None

    @property
    def uri(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout_s=30):
        self.process = subprocess.Popen(
            [_find_binary(), "--port=0", "--stats_file=" + self.stats_file] + self._flags,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if self._quiet else None)
        self.port = int(self._first_line(timeout_s))
        # Until its first stats file, a stop() could leave none to read (older servers also
        # printed the port before installing their SIGTERM handler): wait for it.
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(self.stats_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise RuntimeError("fake_sift_server did not write %s (exit status %s)"
                                   % (self.stats_file, self.process.returncode))
            time.sleep(0.005)
        return self

    def _first_line(self, timeout_s):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        line = self.process.stdout.readline() if ready else b""
        if not line.strip():
            self.process.kill()
            raise RuntimeError("fake_sift_server did not print its port")
        return line.decode().strip()

    def stats(self):
        """The stats as of the server's last write (every 200 ms; final after stop())."""
        with open(self.stats_file) as f:
            return json.load(f)

    def stop(self, timeout_s=20):
        """Stops the server gracefully and returns its final stats."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.process.stdout.close()
        if not os.path.exists(self.stats_file):
            raise RuntimeError("fake_sift_server left no stats file (exit status %s)"
                               % (self.process.returncode if self.process else None))
        return self.stats()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def wait_for(predicate, timeout_s, interval_s=0.05):
    """Polls predicate() until it is true or timeout_s passed; returns its last value."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value
