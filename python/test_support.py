"""python/test_support.py — what the Python tests share: the flows, a builder aimed at a fake
Sift server, retrying sends, value makers, a GIL probe and a byte-counting TCP relay.

Importing it first matters: in an ASan build it re-runs the test with the ASan runtime
preloaded, before sift_stream (an instrumented extension) is loaded.
"""

import os
import socket
import sys
import tempfile
import threading
import time


def rerun_with_asan_runtime():
    """In an ASan build (BUILD sets SIFT_STREAM_ASAN_PRELOAD), runs this test again with the
    ASan runtime preloaded: python3 is not instrumented, and ASan must be the first library
    loaded. libstdc++ is preloaded too, or ASan cannot intercept C++ throws and aborts on the
    first one. Python's own allocations at exit are not freed by design: no leak check."""
    preload = os.environ.get("SIFT_STREAM_ASAN_PRELOAD")
    if not preload or os.environ.get("LD_PRELOAD"):
        return
    env = dict(os.environ, LD_PRELOAD=preload, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


rerun_with_asan_runtime()

import sift_stream  # noqa: E402 (after the re-run, so that ASan is loaded first)

IMU = {
    "name": "imu",
    "channels": [
        {"name": "ax", "type": "double", "unit": "m/s^2"},
        {"name": "ay", "type": "float", "unit": "m/s^2", "description": "lateral"},
        {"name": "count", "type": "int32"},
        {"name": "ok", "type": "bool"},
    ],
}

STATUS = sift_stream.Flow("status", [
    sift_stream.Channel("mode", "enum", enum_types={"IDLE": 0, "RUN": 1}),
    ("message", "string"),
    ("ticks", "int64"),
    ("seq", "uint64"),
    ("seq32", "uint32"),
    sift_stream.Channel("flags", "bit_field", bit_field_elements=[("a", 0, 4), ("b", 4, 4)]),
])

T0 = 1_700_000_000.0  # Distinct timestamps per flow: the server keys messages by them.


def backup_dir():
    return tempfile.mkdtemp(prefix="backups_", dir=os.environ.get("TEST_TMPDIR"))


def builder(server, key="test-key", client_key="python-test"):
    return (sift_stream.Builder()
            .uri(server.uri).api_key(key).tls(False)
            .ingestion_config(asset_name="py-rover", client_key=client_key, flows=[IMU, STATUS])
            .run(name="python test run")
            .backups(backup_dir=backup_dir(), max_file_size_bytes=1 << 20)
            .checkpoint_interval(0.5))


def send_retrying(send, *args):
    """ResourceExhausted means "not taken, try again": the queue is full for a moment."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return send(*args)
        except sift_stream.ResourceExhausted:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def imu_values(i):
    return [0.5 * i, float(i) / 3, i - 5000, i % 2 == 0]


def status_values(i):
    return ["RUN" if i % 2 else 0, "message %d" % i, -(i << 33), (1 << 63) + i, i, bytes([i % 256])]


def longest_stall_while(call):
    """Runs call() while another Python thread spins; returns (seconds call() took, the
    longest time the spinning thread went without running). A call that holds the GIL stalls
    the spinner for all of its duration; one that releases it, for a switch interval at most.
    (Counting the spinner's steps is not proof: it runs as soon as the call returns, before
    the caller can look.)"""
    stop = threading.Event()
    longest = [0.0]

    def spin():
        last = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            longest[0] = max(longest[0], now - last)
            last = now

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    call()
    elapsed = time.monotonic() - started
    time.sleep(0.05)
    stop.set()
    thread.join()
    return elapsed, longest[0]


class TcpRelay:
    """Forwards loopback connections to `upstream` ("host:port") and counts the bytes that go
    upstream (what compression saves). `delay_s` holds every chunk going upstream that long: a
    slow link, to make a call to Sift take time. The relay's threads are Python threads, so a
    call that kept the GIL while waiting on the network through it would never finish."""

    def __init__(self, upstream):
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.uri = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._bytes_upstream = 0
        self._sockets = []
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def bytes_upstream(self):
        with self._lock:
            return self._bytes_upstream

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink, counted in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, counted),
                                 daemon=True).start()

    def _pump(self, source, sink, upstream):
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                if upstream:
                    if self.delay_s:
                        time.sleep(self.delay_s)
                    with self._lock:
                        self._bytes_upstream += len(data)
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self._stop.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
