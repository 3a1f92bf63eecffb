"""python/sift_stream_options_test.py — the builder's durability and recovery options from
Python, against the fake Sift server: sync policies keep flushed messages through a crash (a
child process that exits without finishing), retry policies and the re-ingestion rate limit
are taken, an existing ingestion config is streamed into without set-up calls, metrics are
served over HTTP; and each option's argument errors.
"""

import datetime
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

# First: in an ASan build it re-runs this test with the ASan runtime (see its docstring).
from test_support import (IMU, STATUS, T0, backup_dir, builder, send_retrying, imu_values,
    status_values)
import sift_stream  # noqa: E402
from fake_sift import FakeSiftServer, wait_for  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
