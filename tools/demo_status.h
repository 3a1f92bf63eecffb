// tools/demo_status.h — the demo's live status line and its closing summary table.
//
// The status line is what a person watches while the demo runs: how much was sent, how much
// Sift acknowledged, what waits on disk for a confirmation, what was re-ingested, the rate,
// the checkpoints, and a marker while a fault is on. On a terminal it is redrawn in place
// (carriage return) a few times a second; into a pipe or file it is printed as plain lines
// every `interval`, so logs and tests see a stable, line-oriented record. The formats are part
// of the demo's contract (tools/demo.cc lists them; tools/demo_test.sh reads them).
//
// Thread-safety: StatusPrinter runs its own thread, which calls the sample function; Stop()
// joins it. FormatStatusLine and PrintSummary are pure.

#ifndef SIFT_STREAM_TOOLS_DEMO_STATUS_H_
#define SIFT_STREAM_TOOLS_DEMO_STATUS_H_

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "engine/sift_stream.h"

namespace sift_stream::demo {

// 1234567 -> "1,234,567".
std::string Grouped(uint64_t n);

// The backup files in a directory: what waits on disk for Sift's confirmation (the open
// checkpoint's files, and those of checkpoints not acknowledged yet or being re-ingested).
struct DiskBacklog {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Counts the "*.pbfs" files in `dir` (files that vanish meanwhile are skipped).
DiskBacklog ScanBackupDir(const std::string& dir);

// One observation of the stream, for one status line.
struct StatusSample {
  absl::Duration elapsed;
  SiftStreamMetrics metrics;
  DiskBacklog disk;
  double msgs_per_s = 0;  // Accepted by Send() since the previous line.
  std::string marker;     // "OUTAGE", "RESTART", "FINISH" or empty.
};

// "[  4.0s] sent 200,000 | acked 190,000 | on disk ~10,000 msgs / 2 files | re-ingested 0 |
// 50,000 msg/s | checkpoints 3 ok / 0 failed | OUTAGE" (one line; the marker only when set).
// Messages on disk are estimated from the files' bytes and the stream's bytes per message.
std::string FormatStatusLine(const StatusSample& sample);

class StatusPrinter {
 public:
  // Called once per line; fills metrics, disk and marker (elapsed and rate are the
  // printer's).
  using Source = std::function<void(StatusSample* sample)>;

  // On a terminal (`tty`) the line is redrawn every 250 ms; otherwise a line is printed every
  // `interval`. Starts printing at once.
  StatusPrinter(FILE* out, bool tty, absl::Duration interval, Source source);
  ~StatusPrinter() { Stop(); }

  // Prints one last line (and ends the in-place line on a terminal); idempotent.
  void Stop();

 private:
  void Loop();
  void PrintLine();

  FILE* const out_;
  const bool tty_;
  const absl::Duration interval_;
  const Source source_;
  const absl::Time start_;
  absl::Time last_time_;
  uint64_t last_sent_ = 0;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// What the closing table reports.
struct Summary {
  // true: the in-process fake Sift checked every key; false: a real Sift, where "committed" is
  // the client's own count (acknowledged + re-ingested) and duplicates are unknown.
  bool checked_at_server = false;
  uint64_t sent = 0;
  uint64_t committed = 0;
  uint64_t duplicates = 0;            // Arrivals of a key seen before (server only).
  uint64_t committed_duplicates = 0;  // Of those, re-sends of committed keys (server only).
  SiftStreamMetrics metrics;          // After Finish.
  absl::Duration send_time;           // From the first Send to the last.
  absl::Duration finish_time;         // Finish() alone.
  std::string finish_result;          // "OK" or Finish()'s error.
  bool finish_ok = false;
  std::string faults;                 // What was injected, for the table; empty: none.

  uint64_t lost() const { return sent > committed ? sent - committed : 0; }
  bool passed() const { return finish_ok && lost() == 0; }
};

// The table, then one "result: PASS ..." or "result: FAIL ..." line.
void PrintSummary(FILE* out, const Summary& summary);

}  // namespace sift_stream::demo

#endif  // SIFT_STREAM_TOOLS_DEMO_STATUS_H_
