"""python/example.py — a few seconds of a simulated IMU, streamed with sift_stream.

    bazel run //python:example                  # starts a fake Sift on loopback itself
    bazel run //python:example -- --uri=api.siftstack.com:443 --api_key=$SIFT_API_KEY --tls

Declares two flows, sends the IMU at --rate_hz through a flow handle and a status message
once a second by name, prints the stream's metrics each second, finishes, and (with the fake
server) says how many messages Sift committed.
"""

import argparse
import math
import random
import tempfile
import time

import sift_stream

FLOWS = [
    {
        "name": "imu",
        "channels": [
            {"name": "accel_x", "type": "double", "unit": "m/s^2"},
            {"name": "accel_y", "type": "double", "unit": "m/s^2"},
            {"name": "accel_z", "type": "double", "unit": "m/s^2"},
            {"name": "temperature", "type": "float", "unit": "C"},
            {"name": "sample", "type": "uint64"},
            {"name": "saturated", "type": "bool"},
        ],
    },
    sift_stream.Flow("status", [
        sift_stream.Channel("mode", "enum", enum_types={"IDLE": 0, "DRIVING": 1}),
        sift_stream.Channel("note", "string"),
    ]),
]

SHOWN = ("messages_sent", "messages_acknowledged", "messages_durable", "checkpoints_ok",
         "checkpoints_failed", "send_queue_depth")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", help="Sift's gRPC API (host:port); none: start a fake Sift")
    parser.add_argument("--api_key", default="example-key")
    parser.add_argument("--tls", action="store_true", help="use TLS (real Sift needs it)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate_hz", type=float, default=500.0)
    parser.add_argument("--backup_dir", help="default: a temporary folder, removed after")
    return parser.parse_args()


def imu_sample(i, t):
    ax = 0.3 * math.sin(2 * math.pi * 0.5 * t) + random.gauss(0, 0.02)
    ay = 0.1 * math.cos(2 * math.pi * 0.2 * t) + random.gauss(0, 0.02)
    az = 9.81 + random.gauss(0, 0.05)
    return [ax, ay, az, 21.5 + 0.01 * t, i, abs(ax) > 0.32]


def stream_for(stream, seconds, rate_hz):
    imu = stream.flow("imu")  # Resolved once; each send converts and queues, nothing more.
    start = time.time()
    next_report = start + 1
    i = 0
    while time.time() < start + seconds:
        now = time.time()
        try:
            imu.send(now, imu_sample(i, now - start))
        except sift_stream.ResourceExhausted:
            continue  # Not taken: the queue is full for a moment. Try again.
        i += 1
        if now >= next_report:
            stream.send("status", now, ["DRIVING", "sample %d" % i])
            print("  ", {k: stream.metrics()[k] for k in SHOWN})
            next_report += 1
        time.sleep(max(0.0, start + i / rate_hz - time.time()))
    return i


def run(args, uri):
    if not args.backup_dir:
        with tempfile.TemporaryDirectory(prefix="sift_stream_example_") as backup_dir:
            return stream_to(args, uri, backup_dir)
    return stream_to(args, uri, args.backup_dir)


def stream_to(args, uri, backup_dir):
    stream = (sift_stream.Builder()
              .uri(uri).api_key(args.api_key).tls(args.tls)
              .ingestion_config(asset_name="example-rover", client_key="example-rover-v1",
                                flows=FLOWS)
              .run(name="python example", client_key="python-example")
              .backups(backup_dir=backup_dir)
              .checkpoint_interval(1.0)
              .build())
    print("streaming to %s for %.1f s at %.0f Hz (backups in %s)"
          % (uri, args.seconds, args.rate_hz, backup_dir))
    sent = stream_for(stream, args.seconds, args.rate_hz)
    stream.finish(30)
    print("finished: %d IMU samples sent; metrics:" % sent)
    for name, value in sorted(stream.metrics().items()):
        print("  %-28s %s" % (name, value))


def main():
    args = parse_args()
    if args.uri:
        run(args, args.uri)
        return
    from fake_sift import FakeSiftServer
    with FakeSiftServer(quiet=True) as server:
        run(args, server.uri)
        committed = server.stop()["ingest"]["committed_messages"]
    print("the fake Sift committed %d messages" % committed)


if __name__ == "__main__":
    main()
