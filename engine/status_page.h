// engine/status_page.h — the /status page: one glance at a stream, for a person.
//
// /metrics is for Prometheus; /status is for whoever is at the test stand with a browser and
// no dashboards: current rates, what is waiting (send queue, live queue, messages not yet
// durable or acknowledged), how the last checkpoints ended and how long they took, the backup
// files on disk, the last error and whether the disk is full. The page refreshes itself every
// second. Everything printed is HTML-escaped: error texts come from servers and disks. Built
// from values only (no HTTP, no locks), so tests render it directly.

#ifndef SIFT_STREAM_ENGINE_STATUS_PAGE_H_
#define SIFT_STREAM_ENGINE_STATUS_PAGE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/metrics_text.h"
#include "engine/sift_stream.h"

namespace sift_stream::engine {

// Rates over the last few seconds, from samples of the counters.
struct StatusRates {
  bool known = false;  // False until two samples far enough apart exist.
  absl::Duration window = absl::ZeroDuration();
  double sent_per_second = 0;
  double sent_bytes_per_second = 0;
  double acknowledged_per_second = 0;
  double backed_up_per_second = 0;
  double reingested_per_second = 0;
};

// Keeps counter samples of the last `span` and computes rates over them. Not thread-safe:
// its owner (the HTTP server) locks around it.
class RateWindow {
 public:
  explicit RateWindow(absl::Duration span = absl::Seconds(5)) : span_(span) {}
  void Add(absl::Time now, const SiftStreamMetrics& metrics);
  // Between the oldest sample kept and the newest; unknown if they are under 200 ms apart.
  StatusRates Rates() const;

 private:
  struct Sample {
    absl::Time at;
    uint64_t sent, sent_bytes, acknowledged, backed_up, reingested;
  };
  absl::Duration span_;
  std::deque<Sample> samples_;
};

struct StatusPageData {
  std::string stream_id;
  std::string ingestion_config_id;
  std::string run_id;
  std::string backup_dir;  // Empty in live-only mode and with memory backups.
  bool memory_backups = false;  // StreamMode::kLiveWithMemoryBackups.
  SiftStreamMetrics metrics;
  StatusRates rates;
  BackupDirUsage disk;
  std::vector<CheckpointOutcome> checkpoints;  // Oldest first.
  absl::Time now = absl::InfinitePast();
};

// Seconds between refreshes of the page (its <meta http-equiv="refresh">).
inline constexpr int kStatusRefreshSeconds = 1;

std::string StatusPageHtml(const StatusPageData& data);

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_STATUS_PAGE_H_
