"""docs/snippets/python_snippets_test.py — runs the Python examples of docs/python.md.

The quick start runs as written against the fake Sift, with two edits only a real deployment
would not need: its Sift address becomes the fake server's (plain text, so `.tls(False)`) and
its backup directory a fresh one. The error-handling example runs in the quick start's
namespace. Both must reach the server: the committed counts are checked. The example of
changing course and keeping books runs on a stream of its own, with no_retries, and its report
must agree with what the server committed. The options example (sync, retries, rate limit,
metrics server, existing config) runs with the quick start's edits; its metrics server must
answer over HTTP and both of its streams must reach the server.
"""

import logging
import os
import sys
import tempfile
import time
import unittest
import urllib.request

# Under ASan, re-run with the runtime preloaded (as python/sift_stream_test.py explains).
if os.environ.get("SIFT_STREAM_ASAN_PRELOAD") and not os.environ.get("LD_PRELOAD"):
    os.execve(sys.executable, [sys.executable] + sys.argv,
              dict(os.environ, LD_PRELOAD=os.environ["SIFT_STREAM_ASAN_PRELOAD"],
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"))

import sift_stream  # noqa: E402
from fake_sift import FakeSiftServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_URI = '.uri("api.siftstack.com:443")'
REAL_DIR = '"/var/lib/rover/sift"'


def snippet(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def committed(server, at_least, timeout_s=10):
    deadline = time.time() + timeout_s
    while True:
        count = server.stats()["ingest"]["committed_messages"]
        if count >= at_least or time.time() > deadline:
            return count
        time.sleep(0.1)


class PythonMdTest(unittest.TestCase):
    def test_quick_start_and_error_handling_run_as_written(self):
        quick_start = snippet("python_1.inc")
        errors = snippet("python_4.inc")  # After the changing-course and options examples.
        # The edits below must find what they replace, or the docs changed under this test.
        self.assertIn(REAL_URI, quick_start)
        self.assertIn(REAL_DIR, quick_start)
        with FakeSiftServer("--api_keys=docs-key", quiet=True) as server:
            backup_dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
            code = (quick_start.replace(REAL_URI, '.uri(%r).tls(False)' % server.uri)
                    .replace(REAL_DIR, repr(backup_dir)))
            namespace = {"key": "docs-key", "__name__": "quick_start"}
            exec(compile(code, "docs/python.md", "exec"), namespace)
            self.assertEqual(committed(server, 2), 2)  # One imu message, one status message.

            # The error-handling example, on a writer of a stream that is still open.
            stream = (sift_stream.Builder()
                      .uri(server.uri).tls(False).api_key("docs-key")
                      .ingestion_config(asset_name="rover-7",
                                        client_key="rover-7-telemetry-v1",
                                        flows=[namespace["imu"], namespace["status"]])
                      .backups(backup_dir=tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR")))
                      .build())
            namespace.update(writer=stream.flow("imu"), t=time.time() + 1,
                             values=[1.0, 2.0, True], log=logging.getLogger("docs"))
            exec(compile(errors, "docs/python.md", "exec"), namespace)
            stream.finish(30)
            self.assertEqual(committed(server, 3), 3)

    def test_changing_course_and_report_run_as_written(self):
        with FakeSiftServer("--api_keys=docs-key", quiet=True) as server:
            imu = {"name": "imu", "channels": [("accel_x", "double", "m/s^2")]}
            stream = (sift_stream.Builder()
                      .uri(server.uri).tls(False).api_key("docs-key")
                      .ingestion_config(asset_name="rover-7", client_key="rover-7-course",
                                        flows=[imu])
                      .backups(backup_dir=tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR")))
                      .no_retries()
                      .build())
            namespace = {"stream": stream, "time": time, "log": logging.getLogger("docs"),
                         "__name__": "changing_course"}
            exec(compile(snippet("python_2.inc"), "docs/python.md", "exec"), namespace)
            self.assertTrue(namespace["run_id"])
            self.assertEqual(stream.run_id, "")  # The example detaches at the end.
            report = namespace["report"]
            self.assertTrue(report["ok"], report["error"])
            self.assertEqual(report["messages_acknowledged"], 1)  # The battery message.
            self.assertEqual(committed(server, 1), 1)

    def test_options_example_runs_as_written(self):
        example = snippet("python_3.inc")
        self.assertIn(REAL_URI, example)
        self.assertIn(REAL_DIR, example)
        with FakeSiftServer("--api_keys=docs-key", quiet=True) as server:
            backup_dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
            code = (example.replace(REAL_URI, '.uri(%r).tls(False)' % server.uri)
                    .replace(REAL_DIR, repr(backup_dir)))
            imu = {"name": "imu", "channels": [("accel_x", "double", "m/s^2"),
                                               ("accel_y", "double", "m/s^2"),
                                               ("saturated", "bool")]}
            namespace = {"key": "docs-key", "imu": imu, "time": time, "sift_stream": sift_stream,
                         "__name__": "options"}
            exec(compile(code, "docs/python.md", "exec"), namespace)
            stream = namespace["stream"]
            # No proxy: a test environment's http_proxy must not intercept a loopback fetch.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            url = "http://%s/metrics" % stream.metrics_address
            with opener.open(url, timeout=10) as response:
                text = response.read().decode()
            self.assertIn("\nsift_stream_messages_sent_total 1\n", text)
            self.assertEqual(namespace["direct"].ingestion_config_id, namespace["config_id"])
            self.assertEqual(committed(server, 2), 2)  # One message from each stream.


if __name__ == "__main__":
    unittest.main()
