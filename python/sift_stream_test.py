"""python/sift_stream_test.py — `import sift_stream` against the fake Sift server.

Each test class runs its own //testing:fake_sift_server on loopback (port read from its first
stdout line, committed counts from its --stats_file). Covers: 10,000 messages of mixed types
over two flows committed in full; flow handles; flush; metrics; conversions and their errors;
the exception classes (unknown flow, bad API key, use after finish); compression (bytes on the
wire, counted by a relay); memory backups, full and not; try_send and wait_for_room; runs
attached and detached while streaming (the server keys messages by run); flows added and
auto-registered; no_retries with finish_with_report; the builder's durability and
recovery options (sync policies survive a crash after flush, retry policies and the
re-ingestion rate limit are taken, an existing ingestion config is streamed into, metrics are
served over HTTP) and their argument errors; that build, flush, finish, finish_with_report,
attach_run and add_flows release the GIL while the engine waits; and the fake server's stop()
right after its start.
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request


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
from fake_sift import FakeSiftServer, wait_for  # noqa: E402

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


# Every stream's end hangs 300 ms before the server acknowledges it.
HANG_300_MS = ("--hang_at_end_nth=1", "--hang_at_end_every", "--hang_at_end_ms=300")


def full_memory_builder(server):
    """A memory backup of 4 KiB (a few dozen imu messages) that frees room only as the server
    acknowledges, 300 ms after each stream's end with HANG_300_MS: a producer that sends flat
    out is refused for a while, every time."""
    return (builder(server).mode("live_with_memory_backups")
            .memory_backups(max_bytes=4096).max_message_bytes(1024))


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


BATTERY = {"name": "battery", "channels": [("volts", "double", "V"), ("charging", "bool")]}


def logs_builder(server, compression):
    log = {"name": "log", "channels": [("line", "string")]}
    return (sift_stream.Builder().uri(server).api_key("test-key").tls(False)
            .ingestion_config(asset_name="py-rover", client_key="compression", flows=[log])
            .mode("live_only").compress(compression))


class CompressionTest(unittest.TestCase):

    def bytes_on_the_wire(self, compression, count=300):
        """Streams `count` log lines that compress well through a relay; returns the bytes that
        reached the server and its committed count."""
        with FakeSiftServer() as server, TcpRelay(server.uri) as relay:
            stream = logs_builder(relay.uri, compression).build()
            for i in range(count):
                send_retrying(stream.send, "log", T0 + i, ["all systems nominal " * 20 + str(i)])
            stream.finish(30)
            stats = server.stop()["ingest"]
            return relay.bytes_upstream(), stats["committed_messages"]

    def test_gzip_and_deflate_shrink_what_goes_on_the_wire(self):
        plain, committed_plain = self.bytes_on_the_wire("none")
        gzip, committed_gzip = self.bytes_on_the_wire("gzip")
        deflate, committed_deflate = self.bytes_on_the_wire("deflate")
        self.assertEqual((committed_plain, committed_gzip, committed_deflate), (300, 300, 300))
        self.assertGreater(plain, 300 * 400, "the messages did not go through the relay")
        self.assertLess(gzip, plain / 3, "gzip: %d bytes, uncompressed %d" % (gzip, plain))
        self.assertLess(deflate, plain / 3, "deflate: %d bytes, uncompressed %d" % (deflate, plain))

    def test_unknown_compression_is_a_value_error(self):
        with self.assertRaisesRegex(ValueError, "unknown compression 'zstd'.*gzip"):
            sift_stream.Builder().compress("zstd")


class MemoryBackupsTest(unittest.TestCase):

    def test_memory_backups_stream_everything_without_a_backup_dir(self):
        with FakeSiftServer() as server:
            stream = (sift_stream.Builder().uri(server.uri).api_key("test-key").tls(False)
                      .ingestion_config(asset_name="py-rover", client_key="memory",
                                        flows=[IMU])
                      .mode("live_with_memory_backups").memory_backups(max_bytes=16 << 20)
                      .checkpoint_interval(0.2).build())
            for i in range(2000):
                send_retrying(stream.send, "imu", T0 + i * 1e-3, imu_values(i))
            stream.finish(30)
            metrics = stream.metrics()
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 2000)
        self.assertEqual(metrics["messages_backed_up"], 2000)
        self.assertEqual(metrics["memory_backup_messages_lost"], 0)
        self.assertEqual(metrics["memory_backup_bytes"], 0)  # All acknowledged: all freed.

    def test_full_memory_backup_refuses_until_sift_acknowledges(self):
        with FakeSiftServer(*HANG_300_MS) as server:
            stream = full_memory_builder(server).build()
            sent, refusal = 0, None
            deadline = time.monotonic() + 10
            while refusal is None and time.monotonic() < deadline:
                try:
                    stream.send("imu", T0 + sent, imu_values(sent))
                    sent += 1
                except sift_stream.ResourceExhausted as e:
                    if "memory backup is full" in str(e):
                        refusal = e
            self.assertIsNotNone(refusal, "the ring never filled: the test proves nothing")
            self.assertTrue(stream.metrics()["memory_backup_full"])
            # Room comes back with the server's acknowledgement.
            while not stream.wait_for_room(1):
                self.assertLess(time.monotonic(), deadline + 10, "no room ever came back")
            for i in range(sent, sent + 100):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            stream.finish(30)
            metrics = stream.metrics()
            stats = server.stop()["ingest"]
        self.assertGreaterEqual(metrics["memory_backup_full_stalls"], 1)
        self.assertEqual(metrics["memory_backup_messages_lost"], 0)
        self.assertEqual(stats["committed_messages"], sent + 100)

    def test_memory_backups_need_their_mode(self):
        # Build() refuses these before any call to Sift: no server needed (one stopped as
        # soon as it started may not have written its stats file yet).
        def offline():
            return (sift_stream.Builder().uri("127.0.0.1:1").api_key("test-key").tls(False)
                    .ingestion_config(asset_name="py-rover", client_key="offline", flows=[IMU])
                    .backups(backup_dir=backup_dir()))
        with self.assertRaisesRegex(sift_stream.InvalidArgument, "MemoryBackups"):
            offline().memory_backups(max_bytes=1 << 20).build()
        with self.assertRaisesRegex(sift_stream.InvalidArgument, "two messages"):
            (offline().mode("live_with_memory_backups")
             .memory_backups(max_bytes=1000).max_message_bytes(1000).build())
        with self.assertRaisesRegex(sift_stream.InvalidArgument, "NoRetries"):
            offline().mode("live_with_memory_backups").no_retries().build()


class TrySendTest(unittest.TestCase):

    def test_try_send_refuses_without_taking_and_takes_the_same_row_later(self):
        with FakeSiftServer(*HANG_300_MS) as server:
            stream = full_memory_builder(server).build()
            imu = stream.flow("imu")
            taken = refused = 0
            deadline = time.monotonic() + 20
            # At least 300 messages, and on until the ring filled once (the queue in front of
            # it may take a first burst whole).
            while (taken < 300 or refused == 0) and time.monotonic() < deadline:
                # A refused row is still the caller's: the same t and values, tried again.
                t, values = T0 + taken, imu_values(taken)
                while not (imu.try_send(t, values) if taken % 2 else
                           stream.try_send("imu", t, values)):
                    refused += 1
                    stream.wait_for_room(1)
                taken += 1
            stream.finish(30)
            metrics = stream.metrics()
            stats = server.stop()["ingest"]
        self.assertGreater(refused, 0, "nothing was refused: the test proves nothing")
        self.assertEqual(metrics["messages_sent"], taken)
        self.assertGreaterEqual(metrics["messages_refused"], refused)
        self.assertEqual(stats["committed_messages"], taken)
        self.assertEqual(stats["duplicate_messages"], 0)

    def test_try_send_raises_what_is_not_worth_retrying(self):
        with FakeSiftServer() as server:
            stream = builder(server).build()
            imu = stream.flow("imu")
            self.assertTrue(stream.wait_for_room(0))  # An idle stream has room at once.
            with self.assertRaisesRegex(TypeError, "channel 'ax'"):
                imu.try_send(T0, ["x", 1.0, 1, True])
            with self.assertRaises(sift_stream.InvalidArgument):
                stream.try_send("nope", T0, [1.0])
            self.assertTrue(imu.try_send(T0, imu_values(1)))
            stream.finish(30)
            with self.assertRaises(sift_stream.FailedPrecondition):
                imu.try_send(T0 + 1, imu_values(2))
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 1)


class RunsAndFlowsTest(unittest.TestCase):

    def test_attach_and_detach_change_the_run_messages_carry(self):
        # The server keys a message by (config, flow, timestamp, run): the same imu row at the
        # same time is a new message in another run, and a duplicate in the same one.
        with FakeSiftServer() as server:
            stream = builder(server).build()
            built_run = stream.run_id
            self.assertTrue(built_run)
            stream.send("imu", T0, imu_values(1))
            drive = stream.attach_run(name="drive 2", description="attached", tags=["py"])
            self.assertEqual(stream.run_id, drive)
            self.assertNotEqual(drive, built_run)
            stream.send("imu", T0, imu_values(1))
            stream.detach_run()
            self.assertEqual(stream.run_id, "")
            stream.send("imu", T0, imu_values(1))
            stream.send("imu", T0, imu_values(1))  # Same run (none): a duplicate.
            # By client_key: found, else created; by id: checked.
            keyed = stream.attach_run(client_key="py-drive-3", name="drive 3")
            self.assertEqual(stream.attach_run(client_key="py-drive-3", name="drive 3"), keyed)
            self.assertEqual(stream.attach_run(run_id=drive), drive)
            with self.assertRaises(sift_stream.NotFound):
                stream.attach_run(run_id="no-such-run")
            self.assertEqual(stream.run_id, drive)  # A failed attach keeps the run.
            with self.assertRaisesRegex(ValueError, "attach_run"):
                stream.attach_run()
            stream.finish(30)
            with self.assertRaises(sift_stream.FailedPrecondition):
                stream.detach_run()
            stats = server.stop()
        self.assertEqual(stats["ingest"]["committed_messages"], 3)
        self.assertEqual(stats["ingest"]["duplicate_messages"], 1)
        self.assertEqual(stats["ingest"]["invalid_messages"], 0)
        self.assertGreaterEqual(stats["run_calls"]["calls"], 4)

    def test_added_flows_take_messages(self):
        with FakeSiftServer() as server:
            stream = builder(server).build()
            stream.add_flows([BATTERY, sift_stream.Flow("gps", [("lat", "double")])])
            stream.add_flows([IMU])  # Known with the same channels: accepted, skipped.
            self.assertEqual(stream.flows, ["imu", "status", "battery", "gps"])
            battery = stream.flow("battery")
            self.assertEqual(battery.channels, ["volts", "charging"])
            battery.send(T0, [12.6, True])
            stream.send("gps", T0, [51.5])
            with self.assertRaisesRegex(TypeError, "channel 'charging'"):
                battery.send(T0 + 1, [12.6, 1])
            with self.assertRaisesRegex(sift_stream.FailedPrecondition, "imu"):
                stream.add_flows([{"name": "imu", "channels": [("ax", "int32")]}])
            with self.assertRaisesRegex(ValueError, "unknown type"):
                stream.add_flows([{"name": "f", "channels": [("c", "complex")]}])
            stream.finish(30)
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 2)
        self.assertEqual(stats["invalid_messages"], 0)

    def test_auto_registered_flow_is_shaped_by_its_first_message(self):
        with FakeSiftServer() as server:
            stream = (sift_stream.Builder().uri(server.uri).api_key("test-key").tls(False)
                      .ingestion_config(asset_name="py-rover", client_key="auto", flows=[])
                      .backups(backup_dir=backup_dir())
                      .auto_register_flows(True).build())
            self.assertEqual(stream.flows, [])
            stream.send("gps", T0, [51.5, 7, True, "fix", b"\x01"])
            self.assertEqual(stream.flows, ["gps"])
            gps = stream.flow("gps")
            self.assertEqual(gps.channels, ["channel_0", "channel_1", "channel_2", "channel_3",
                                            "channel_4"])
            gps.send(T0 + 1, [51.6, None, False, "fix", b""])
            # Later messages are converted by the registered types.
            with self.assertRaisesRegex(TypeError, "channel 'channel_1' is int64"):
                gps.send(T0 + 2, [51.6, 7.5, False, "fix", b""])
            with self.assertRaisesRegex(sift_stream.InvalidArgument, "empty"):
                stream.send("odometer", T0, [None])
            with self.assertRaisesRegex(TypeError, "odometer"):
                stream.send("odometer", T0, [[1, 2]])
            self.assertEqual(stream.flows, ["gps"])
            stream.finish(30)
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 2)
        self.assertEqual(stats["invalid_messages"], 0)


class FinishReportTest(unittest.TestCase):

    def test_report_of_a_clean_finish(self):
        with FakeSiftServer() as server:
            stream = builder(server).build()
            for i in range(100):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            report = stream.finish_with_report(30)
            stats = server.stop()["ingest"]
        self.assertTrue(report["ok"])
        self.assertIsNone(report["error"])
        self.assertEqual(report["messages_sent"], 100)
        self.assertEqual(report["messages_acknowledged"], 100)
        self.assertGreaterEqual(report["checkpoints_acknowledged"], 1)
        self.assertEqual(report["kept"], [])
        self.assertEqual(report["messages_unprotected"], 0)
        self.assertEqual(stats["committed_messages"], 100)

    def test_no_retries_keeps_the_failed_checkpoint_and_reports_it(self):
        # The first stream fails after the client's half-close: its checkpoint is not
        # acknowledged, and with no_retries it stays in its backup files.
        with FakeSiftServer("--fail_at_end_nth=1") as server:
            stream = builder(server).no_retries().checkpoint_interval(60).build()
            for i in range(50):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            report = stream.finish_with_report(30)
            stats = server.stop()["ingest"]
        self.assertFalse(report["ok"])
        self.assertIsInstance(report["error"], sift_stream.Unavailable)
        self.assertEqual(report["messages_sent"], 50)
        self.assertEqual(len(report["kept"]), 1)
        kept = report["kept"][0]
        self.assertEqual((kept["messages"], kept["messages_on_disk"]), (50, 50))
        self.assertEqual(report["messages_on_disk"], 50)
        self.assertTrue(kept["files"])
        for path in kept["files"]:
            self.assertTrue(os.path.exists(path), path)
        # Nothing was sent twice, and the report claims what the server committed.
        self.assertEqual(report["messages_acknowledged"], stats["committed_messages"])
        self.assertEqual(stats["messages_received"], 50)
        with self.assertRaises(sift_stream.Unavailable):
            raise report["error"]


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

    def test_finish_with_report_releases_the_gil(self):
        with FakeSiftServer(*self.HANG) as server:
            stream = builder(server).mode("live_only").checkpoint_interval(60).build()
            stream.send("imu", T0, imu_values(1))
            self.assert_released(lambda: stream.finish_with_report(30), "finish_with_report",
                                 0.7)

    def test_attach_run_and_add_flows_release_the_gil(self):
        # Through a relay that holds each chunk to the server 0.4 s: every call to Sift takes
        # that long at least. (Held the GIL, the relay's Python threads could not run at all.)
        with FakeSiftServer() as server, TcpRelay(server.uri) as relay:
            stream = builder(relay).mode("live_only").checkpoint_interval(60).build()
            relay.delay_s = 0.4
            self.assert_released(lambda: stream.attach_run(name="slow run"), "attach_run", 0.3)
            self.assert_released(lambda: stream.add_flows([BATTERY]), "add_flows", 0.3)
            relay.delay_s = 0
            stream.finish(30)

    def test_build_releases_the_gil(self):
        # Set-up calls retried with backoff (100 ms, 200 ms, 400 ms): build waits ~0.7 s.
        with FakeSiftServer("--fail_unary_count=3") as server:
            streams = []
            self.assert_released(lambda: streams.append(builder(server).build()), "build", 0.3)
            streams[0].finish(30)


# Runs in a child process: one backups-only stream per sync policy, each given N messages and
# flushed, then os._exit — a crash: no finish, no destructor, the files as flush left them.
# Prints each stream's messages_durable. Backups-only, so that nothing reaches the server
# before the parent's recovery streams do.
SYNC_CHILD = r"""
import datetime, json, os, sys
import sift_stream
uri, count, dirs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
POLICIES = [(("on_flush",), {}), (("never",), {}), ((), {"every": 0.05}),
            ((), {"every": datetime.timedelta(milliseconds=50)}), ((), {"every_bytes": 4096})]
assert len(POLICIES) == len(dirs)
durable, streams = [], []
for i, ((args, kwargs), directory) in enumerate(zip(POLICIES, dirs)):
    stream = (sift_stream.Builder().uri(uri).api_key("k").tls(False)
              .ingestion_config(asset_name="py-rover", client_key="sync-test",
                                flows=[{"name": "imu", "channels": [("ax", "double")]}])
              .mode("backups_only").backups(backup_dir=directory)
              .sync(*args, **kwargs).build())
    for j in range(count):
        stream.send("imu", 1_700_000_000 + i * count + j, [float(j)])
    stream.flush(datetime.timedelta(seconds=30))
    durable.append(stream.metrics()["messages_durable"])
    streams.append(stream)
print(json.dumps(durable), flush=True)
os._exit(0)
"""

SYNC_FLOWS = [{"name": "imu", "channels": [("ax", "double")]}]


def prometheus_value(text, name):
    """The value of an unlabelled sample `name` in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def http_get(url):
    # No proxy: a test environment's http_proxy must not intercept a loopback fetch.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


class SyncPolicyTest(unittest.TestCase):

    def test_every_sync_policy_keeps_flushed_messages_through_a_crash(self):
        # Each policy's flush() must leave every message in the files: a process that dies
        # right after it (os._exit in a child) loses none, and start-up recovery in a new
        # stream on the same directory gets all of them committed.
        count = 300
        with FakeSiftServer() as server:
            dirs = [backup_dir() for _ in range(5)]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            child = subprocess.run(
                [sys.executable, "-c", SYNC_CHILD, server.uri, str(count), json.dumps(dirs)],
                env=env, stdout=subprocess.PIPE, timeout=120, check=True)
            self.assertEqual(json.loads(child.stdout.decode().splitlines()[-1]), [count] * 5)
            self.assertEqual(server.stats()["ingest"]["committed_messages"], 0)
            for directory in dirs:
                self.assertTrue(any(name.endswith(".pbfs") for name in os.listdir(directory)),
                                directory)
                stream = (sift_stream.Builder().uri(server.uri).api_key("k").tls(False)
                          .ingestion_config(asset_name="py-rover", client_key="sync-test",
                                            flows=SYNC_FLOWS)
                          .backups(backup_dir=directory).build())
                stream.finish(30)  # Waits for start-up recovery.
                self.assertEqual(stream.metrics()["messages_recovered"], count, directory)
            stats = server.stop()["ingest"]
        self.assertEqual(stats["committed_messages"], 5 * count)
        self.assertEqual(stats["invalid_messages"], 0)

    def test_bad_sync_arguments_raise_at_the_call(self):
        b = sift_stream.Builder()
        for args, kwargs, pattern in [
                ((), {}, "exactly one"),
                (("never",), {"every": 1}, "exactly one"),
                (("sometimes",), {}, "unknown sync policy 'sometimes'"),
                ((), {"every": -0.5}, r"every=\) must be >= 0"),
                ((), {"every": -datetime.timedelta(seconds=1)}, r"every=\) must be >= 0"),
                ((), {"every": 0}, r"every=\) must be > 0"),
                ((), {"every_bytes": 0}, r"every_bytes=\) must be >= 1"),
                ((), {"every_bytes": -4096}, r"every_bytes=\) must be >= 1")]:
            with self.assertRaisesRegex(sift_stream.InvalidArgument, pattern):
                b.sync(*args, **kwargs)
        with self.assertRaises(TypeError):
            b.sync(every="1s")
        with self.assertRaises(TypeError):
            b.sync(every_bytes=4096.0)
        self.assertIs(b.sync("on_flush"), b)  # Still usable after the errors.


class RetryAndRateLimitTest(unittest.TestCase):

    def test_retry_policies_are_taken(self):
        # Every stream fails at its end. The live stream's next attempt waits the live policy's
        # 2.5 s, exactly (no jitter); the failed checkpoint's re-ingestion gives up after the
        # re-ingestion policy's 2 attempts. The defaults would wait ~0.1 s and retry for ever.
        with FakeSiftServer("--fail_at_end_nth=1", "--fail_at_end_every") as server:
            stream = (builder(server).checkpoint_interval(0.2)
                      .live_retry(initial_backoff=2.5,
                                  max_backoff=datetime.timedelta(seconds=2.5), jitter=0)
                      .reingest_retry(max_attempts=2, initial_backoff=0.01, multiplier=1,
                                      jitter=0.0)
                      .build())
            for i in range(20):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            self.assertTrue(wait_for(lambda: stream.metrics()["current_backoff_s"] == 2.5, 15),
                            stream.metrics())
            self.assertTrue(wait_for(lambda: stream.metrics()["reingest_jobs_failed"] >= 1, 15),
                            stream.metrics())
            report = stream.finish_with_report(5)
            stats = server.stop()["ingest"]
        self.assertFalse(report["ok"])
        self.assertEqual(stats["committed_messages"], 0)

    def test_reingest_rate_limit_paces_reingestion(self):
        # The first live stream fails at its end: its 200 messages are re-ingested, at 100 per
        # second with the limit, so finish() (which waits for that) takes well over a second.
        count = 200
        with FakeSiftServer("--fail_at_end_nth=1") as server:
            stream = (builder(server).checkpoint_interval(60).reingest_rate_limit(100)
                      .build())
            for i in range(count):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            started = time.monotonic()
            stream.finish(60)
            elapsed = time.monotonic() - started
            metrics = stream.metrics()
            stats = server.stop()["ingest"]
        self.assertEqual(metrics["messages_reingested"], count)
        self.assertEqual(stats["committed_messages"], count)
        self.assertGreater(elapsed, 1.2, "re-ingestion was not paced: %.2f s" % elapsed)

    def test_bad_retry_and_rate_arguments_raise_at_the_call(self):
        b = sift_stream.Builder()
        for call, pattern in [
                (lambda: b.reingest_rate_limit(-1), "reingest_rate_limit must be"),
                (lambda: b.reingest_rate_limit(float("nan")), "reingest_rate_limit must be"),
                (lambda: b.reingest_rate_limit(float("inf")), "reingest_rate_limit must be"),
                (lambda: b.live_retry(max_attempts=-1), r"live_retry\(max_attempts=\)"),
                (lambda: b.reingest_retry(initial_backoff=-0.1),
                 r"reingest_retry\(initial_backoff=\) must be >= 0"),
                (lambda: b.live_retry(max_backoff=-datetime.timedelta(milliseconds=1)),
                 r"max_backoff=\) must be >= 0"),
                (lambda: b.live_retry(initial_backoff=10, max_backoff=1),
                 "initial_backoff .* is longer than max_backoff"),
                (lambda: b.reingest_retry(multiplier=0.5), r"multiplier=\) must be"),
                (lambda: b.live_retry(jitter=1.5), r"jitter=\) must be between 0 and 1"),
                (lambda: b.checkpoint_interval(-1), "checkpoint_interval must be >= 0"),
                (lambda: b.ack_timeout(-datetime.timedelta(seconds=1)), "ack_timeout must be"),
                (lambda: b.data_capacity(-1), "data_capacity must be >= 1"),
                (lambda: b.max_message_bytes(0), "max_message_bytes must be >= 1"),
                (lambda: b.live_retry(max_attempts=2**31), r"max_attempts=\) must be at most"),
                (lambda: b.backups(backup_dir="/tmp", max_file_size_bytes=-1),
                 "max_file_size_bytes must be >= 1"),
                (lambda: b.backups(backup_dir="/tmp", max_file_count=0),
                 "max_file_count must be >= 1"),
                (lambda: b.memory_backups(max_bytes=-4096), "max_bytes must be >= 1")]:
            with self.assertRaisesRegex(ValueError, pattern):
                call()
            with self.assertRaises(sift_stream.InvalidArgument):
                call()
        with self.assertRaises(TypeError):
            b.reingest_rate_limit("fast")
        with self.assertRaises(TypeError):
            b.live_retry(max_attempts=2.5)
        with self.assertRaises(TypeError):
            b.live_retry(3)  # Keyword-only: which field would 3 be?
        with self.assertRaises(TypeError):
            b.ack_timeout(True)


class ExistingConfigTest(unittest.TestCase):

    def test_streams_into_a_config_registered_earlier_without_set_up_calls(self):
        with FakeSiftServer() as server:
            first = builder(server, client_key="existing-config").build()
            config_id = first.ingestion_config_id
            first.send("imu", T0, imu_values(0))
            first.finish(30)
            # The stats file lags; once it has the commit, it has the set-up calls before it.
            wait_for(lambda: server.stats()["ingest"]["committed_messages"] == 1, 10)
            calls_before = server.stats()["ingestion_config_calls"]["calls"]
            self.assertGreater(calls_before, 0)

            # No run either: set-up calls (config and run) are all skipped.
            stream = (sift_stream.Builder().uri(server.uri).api_key("test-key").tls(False)
                      .ingestion_config(asset_name="py-rover", client_key="existing-config",
                                        flows=[IMU, STATUS])
                      .existing_ingestion_config(config_id)
                      .backups(backup_dir=backup_dir()).build())
            self.assertEqual(stream.ingestion_config_id, config_id)
            self.assertEqual(stream.flows, ["imu", "status"])
            for i in range(1, 301):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
                send_retrying(stream.send, "status", T0 + i, status_values(i))
            stream.finish(30)
            stats = server.stop()
        self.assertEqual(stats["ingestion_config_calls"]["calls"], calls_before)
        self.assertEqual(stats["ingest"]["committed_messages"], 601)
        self.assertEqual(stats["ingest"]["invalid_messages"], 0)

    def test_empty_id_is_a_value_error(self):
        with self.assertRaisesRegex(ValueError, "needs an ingestion config id"):
            sift_stream.Builder().existing_ingestion_config("")


class ServeMetricsTest(unittest.TestCase):

    def test_metrics_and_status_over_http(self):
        count = 250
        with FakeSiftServer() as server:
            stream = builder(server).serve_metrics("127.0.0.1:0").build()
            host, port = stream.metrics_address.rsplit(":", 1)
            self.assertEqual(host, "127.0.0.1")
            self.assertGreater(int(port), 0)
            for i in range(count):
                send_retrying(stream.send, "imu", T0 + i, imu_values(i))
            stream.flush(30)
            url = "http://%s" % stream.metrics_address
            status, content_type, text = http_get(url + "/metrics")
            self.assertEqual(status, 200)
            self.assertIn("text/plain", content_type)
            self.assertEqual(prometheus_value(text, "sift_stream_messages_sent_total"), count)
            stream.finish(30)
            # Still served after finish (until the stream goes): the final counts.
            text = http_get(url + "/metrics")[2]
            self.assertEqual(prometheus_value(text, "sift_stream_messages_acknowledged_total"),
                             count)
            status, content_type, page = http_get(url + "/status")
            self.assertEqual(status, 200)
            self.assertIn("text/html", content_type)
            checkpoints = stream.recent_checkpoints()
            server.stop()
        self.assertTrue(checkpoints)
        self.assertEqual(sum(c["messages"] for c in checkpoints if c["acknowledged"]), count)
        for c in checkpoints:
            self.assertEqual(set(c), {"checkpoint", "messages", "ended", "duration_s",
                                      "acknowledged", "detail"})

    def test_no_address_without_serve_metrics(self):
        with FakeSiftServer() as server:
            with builder(server).build() as stream:
                self.assertEqual(stream.metrics_address, "")

    def test_bad_address_and_port_in_use_fail_build(self):
        with self.assertRaisesRegex(ValueError, "needs \"ip:port\""):
            sift_stream.Builder().serve_metrics("")
        with FakeSiftServer() as server:
            with self.assertRaises(sift_stream.InvalidArgument):
                builder(server).serve_metrics("not an address").build()
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen(1)
                address = "127.0.0.1:%d" % taken.getsockname()[1]
                with self.assertRaises(sift_stream.Unavailable):
                    builder(server).serve_metrics(address).build()


class FakeServerTest(unittest.TestCase):

    def test_stop_right_after_start_has_stats(self):
        # The server prints its port before it handles SIGTERM: stop() must not kill it then.
        for _ in range(5):
            server = FakeSiftServer(quiet=True).start()
            self.assertEqual(server.stop()["ingest"]["committed_messages"], 0)


if __name__ == "__main__":
    unittest.main()
