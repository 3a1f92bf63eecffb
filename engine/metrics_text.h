// engine/metrics_text.h — SiftStreamMetrics in Prometheus' text exposition format.
//
// What /metrics serves (engine/metrics_http.h), kept apart from HTTP so that the format can be
// tested on its own and checked by `promtool check metrics`. Every counter and gauge of
// SiftStreamMetrics appears once, with # HELP and # TYPE lines, named `sift_stream_*` with
// the unit in the name (`_total` for counters, `_bytes`, `_seconds`). Counters are what only
// grows; queue depths, the current backoff, the disk-full flag and the backup directory's
// size are gauges. last_error is text and lives on /status only. docs/operations.md lists
// every metric and the alerts worth setting on them.

#ifndef SIFT_STREAM_ENGINE_METRICS_TEXT_H_
#define SIFT_STREAM_ENGINE_METRICS_TEXT_H_

#include <cstdint>
#include <string>

#include "engine/sift_stream.h"

namespace sift_stream::engine {

// The backup directory as the HTTP thread found it (engine/metrics_http.h measures it).
struct BackupDirUsage {
  bool known = false;  // False without a backup directory, or when it cannot be read.
  uint64_t files = 0;  // *.pbfs files: this stream's and any left by earlier processes.
  uint64_t bytes = 0;  // Their sizes, summed.
};

// The Content-Type Prometheus expects for PrometheusText's output.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// The whole /metrics body.
std::string PrometheusText(const SiftStreamMetrics& metrics, const BackupDirUsage& disk);

// Messages accepted by Send() that are not durable on disk yet; 0 when the counts race
// (Send counts a message after the reactor may already have synced it).
uint64_t MessagesNotDurable(const SiftStreamMetrics& metrics);

// Recovery files found at start-up that Sift has not acknowledged yet.
uint64_t RecoveryFilesPending(const SiftStreamMetrics& metrics);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_METRICS_TEXT_H_
