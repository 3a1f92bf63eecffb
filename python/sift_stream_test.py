"""python/sift_stream_test.py — `import sift_stream` against the fake Sift server.

Each test class runs its own //testing:fake_sift_server on loopback (port read from its first
stdout line, committed counts from its --stats_file). Covers: 10,000 messages of mixed types
over two flows committed in full; flow handles; flush; metrics; conversions and their errors;
the exception classes (unknown flow, bad API key, use after finish); and that build, flush and
finish release the GIL while the engine waits.
"""

import datetime
import os
import sys
import tempfile
import threading
import time
import unittest


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
from fake_sift import FakeSiftServer  # noqa: E402

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


class StreamingTest(unittest.TestCase):

    def test_10000_messages_over_two_flows_are_all_committed(self):
        with FakeSiftServer() as server:
            stream = builder(server).build()
            status = stream.flow("status")
            for i in range(5000):
                send_retrying(stream.send, "imu", T0 + i * 1e-3, imu_values(i))
                send_retrying(status.send, T0 + i * 1e-3, status_values(i))
            stream.finish(60)
            metrics = stream.metrics()
            stats = server.stop()["ingest"]
        self.assertEqual(metrics["messages_sent"], 10000)
        self.assertGreaterEqual(metrics["checkpoints_ok"], 1)
        self.assertEqual(stats["invalid_messages"], 0)
        self.assertEqual(stats["committed_messages"], 10000)

    def test_flow_handle_datetime_and_empty_values(self):
        with FakeSiftServer() as server:
            stream = builder(server).build()
            self.assertEqual(stream.flows, ["imu", "status"])
            imu = stream.flow("imu")
            self.assertEqual(imu.name, "imu")
            self.assertEqual(imu.channels, ["ax", "ay", "count", "ok"])
            start = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
            for i in range(100):
                when = start + datetime.timedelta(microseconds=i)
                imu.send(when, [1.0, None, None, True] if i % 2 else imu_values(i))
            stream.finish(30)
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 100)
        self.assertEqual(stats["invalid_messages"], 0)

    def test_flush_makes_sent_messages_durable(self):
        with FakeSiftServer() as server:
            stream = builder(server).checkpoint_interval(60).build()
            for i in range(500):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            self.assertIsNone(stream.flush(30))
            self.assertGreaterEqual(stream.metrics()["messages_durable"], 500)
            stream.finish(30)

    def test_metrics_is_a_dict_of_numbers(self):
        with FakeSiftServer() as server:
            with builder(server).build() as stream:
                stream.send("imu", T0, imu_values(1))
                metrics = stream.metrics()
        self.assertEqual(metrics["messages_sent"], 1)
        self.assertIsInstance(metrics["last_checkpoint_duration_s"], float)
        self.assertIsInstance(metrics["backup_disk_full"], bool)
        self.assertIsInstance(metrics["last_error"], str)
        for name in ("messages_acknowledged", "messages_backed_up", "checkpoints_ok", "retries"):
            self.assertIsInstance(metrics[name], int, name)


class ErrorTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = FakeSiftServer("--api_keys=good-key").start()
        cls.stream = builder(cls.server, key="good-key").build()

    @classmethod
    def tearDownClass(cls):
        cls.stream.finish(30)
        cls.server.stop()

    def test_classes(self):
        for name in ("ResourceExhausted", "InvalidArgument", "DataLoss", "Unavailable",
                     "DeadlineExceeded", "FailedPrecondition", "Unauthenticated"):
            self.assertTrue(issubclass(getattr(sift_stream, name), sift_stream.Error), name)
        self.assertTrue(sift_stream.ResourceExhausted.retryable)
        self.assertFalse(sift_stream.DataLoss.retryable)
        self.assertTrue(issubclass(sift_stream.InvalidArgument, ValueError))
        self.assertEqual(sift_stream.Unavailable.code, "UNAVAILABLE")

    def test_bad_api_key_fails_build_without_showing_the_key(self):
        with self.assertRaises(sift_stream.Error) as raised:
            builder(self.server, key="wrong-secret-key-123").build()
        self.assertIsInstance(raised.exception, sift_stream.Unauthenticated)
        self.assertNotIn("wrong-secret-key-123", str(raised.exception))

    def test_unknown_flow(self):
        with self.assertRaisesRegex(sift_stream.InvalidArgument, "nope"):
            self.stream.send("nope", T0, [1.0])
        with self.assertRaises(sift_stream.InvalidArgument):
            self.stream.flow("nope")

    def test_wrong_value_types_name_the_channel(self):
        imu = self.stream.flow("imu")
        for values, error, channel in [
            (["x", 1.0, 1, True], TypeError, "ax"),
            ([True, 1.0, 1, True], TypeError, "ax"),
            ([1.0, 1.0, 1.5, True], TypeError, "count"),
            ([1.0, 1.0, 2**31, True], ValueError, "count"),
            ([1.0, 1.0, 1, 1], TypeError, "ok"),
        ]:
            with self.assertRaisesRegex(error, "channel '%s'" % channel):
                imu.send(T0, values)
        status = self.stream.flow("status")
        with self.assertRaisesRegex(ValueError, "'seq'"):
            status.send(T0, [0, "m", 1, -1, 1, b"\0"])
        with self.assertRaisesRegex(ValueError, "'mode'.*STOP"):
            status.send(T0, ["STOP", "m", 1, 1, 1, b"\0"])
        with self.assertRaisesRegex(TypeError, "'message'"):
            status.send(T0, [0, b"bytes", 1, 1, 1, b"\0"])

    def test_wrong_shape_and_timestamp(self):
        with self.assertRaisesRegex(ValueError, "4 channels; 2 values"):
            self.stream.send("imu", T0, [1.0, 2.0])
        with self.assertRaises(TypeError):
            self.stream.send("imu", "yesterday", imu_values(1))
        with self.assertRaises(TypeError):
            self.stream.send("imu", T0, 1.0)

    def test_bad_flow_specs(self):
        for flows, pattern in [
            ([{"name": "f", "channels": [{"name": "c", "type": "complex"}]}], "unknown type"),
            ([{"name": "f", "channels": [{"name": "c", "type": "double", "unti": "m"}]}],
             "unknown key 'unti'"),
            ([IMU, IMU], "appears twice"),
            ([{"name": "f", "channels": [{"name": "c", "type": "enum"}]}], "enum_types"),
            ([{"name": "f", "channels": []}], "no channels"),
        ]:
            with self.assertRaisesRegex(ValueError, pattern):
                sift_stream.Builder().ingestion_config(asset_name="a", client_key="k",
                                                       flows=flows)
        with self.assertRaises(ValueError):
            sift_stream.Builder().mode("sometimes")

    def test_send_after_finish(self):
        stream = builder(self.server, key="good-key", client_key="after-finish").build()
        stream.finish(30)
        with self.assertRaises(sift_stream.FailedPrecondition):
            stream.send("imu", T0, imu_values(1))


class GilTest(unittest.TestCase):
    """While the engine waits (a server that hangs ~1 s at the end of every stream, or fails
    the first set-up calls), another Python thread keeps running."""

    HANG = ("--hang_at_end_nth=1", "--hang_at_end_every", "--hang_at_end_ms=1000")

    def assert_released(self, call, what, min_seconds):
        elapsed, stall = longest_stall_while(call)
        self.assertGreater(elapsed, min_seconds, "%s did not wait: the test proves nothing" % what)
        self.assertLess(stall, elapsed / 2, "%s held the GIL (%.2f s stall in %.2f s)"
                        % (what, stall, elapsed))

    def test_flush_and_finish_release_the_gil(self):
        with FakeSiftServer(*self.HANG) as server:
            stream = builder(server).mode("live_only").checkpoint_interval(60).build()
            stream.send("imu", T0, imu_values(1))
            # Live-only flush waits for Sift's acknowledgement of the checkpoint it ends.
            self.assert_released(lambda: stream.flush(30), "flush", 0.7)
            stream.send("imu", T0 + 1, imu_values(2))
            self.assert_released(lambda: stream.finish(30), "finish", 0.7)

    def test_build_releases_the_gil(self):
        # Set-up calls retried with backoff (100 ms, 200 ms, 400 ms): build waits ~0.7 s.
        with FakeSiftServer("--fail_unary_count=3") as server:
            streams = []
            self.assert_released(lambda: streams.append(builder(server).build()), "build", 0.3)
            streams[0].finish(30)


if __name__ == "__main__":
    unittest.main()
