"""python/sift_stream_test.py — `import sift_stream` against the fake Sift server.

Each test class runs its own //testing:fake_sift_server on loopback (port read from its first
stdout line, committed counts from its --stats_file). Covers: 10,000 messages of mixed types
over two flows committed in full; flow handles; flush; metrics; conversions and their errors;
the exception classes (unknown flow, bad API key, use after finish); compression (bytes on the
wire, counted by a relay); memory backups, full and not; try_send and wait_for_room; runs
attached and detached while streaming (the server keys messages by run); flows added and
auto-registered; no_retries with finish_with_report; that build, flush, finish,
finish_with_report, attach_run and add_flows release the GIL while the engine waits; and the
fake server's stop() right after its start. The builder's durability and recovery options:
sift_stream_options_test.py.
"""

import datetime
import os
import time
import unittest

# First: in an ASan build it re-runs this test with the ASan runtime (see its docstring).
from test_support import (IMU, T0, backup_dir, builder, send_retrying, imu_values, status_values,
    longest_stall_while, TcpRelay)
import sift_stream  # noqa: E402
from fake_sift import FakeSiftServer, wait_for  # noqa: E402


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

    def test_a_one_letter_key_does_not_mangle_the_message(self):
        # Short (test) keys are hidden only where they stand alone, as the engine does: "e"
        # must not turn every "e" of the message into a marker.
        with self.assertRaises(sift_stream.Unauthenticated) as raised:
            builder(self.server, key="e").build()
        message = str(raised.exception)
        self.assertIn("unknown API key", message)  # The server's words, every "e" intact.
        self.assertIn("failed after", message)

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


class FakeServerTest(unittest.TestCase):

    def test_stop_right_after_start_has_stats(self):
        # The server prints its port before it handles SIGTERM: stop() must not kill it then.
        for _ in range(5):
            server = FakeSiftServer(quiet=True).start()
            self.assertEqual(server.stop()["ingest"]["committed_messages"], 0)


if __name__ == "__main__":
    unittest.main()
