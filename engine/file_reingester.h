// engine/file_reingester.h — re-ingests PBFS backup files named by a person or a tool.
//
// The engine re-ingests its own backups automatically while it runs. Files can also outlive
// the engine that wrote them: a crash, a disk carried back from a test stand, a stream that
// gave up and kept its files. `ReingestFiles()` sends such files to Sift, in the order given,
// on the same path the engine itself uses (engine/reingestion_task.h: salvage reads, one
// stream per job, retries with backoff, deletion only after Sift acknowledged), so a file
// handed to this function is treated exactly as the engine would have treated it.
//
// Each file is its own job: a failed stream retries only the file it was sending, and the
// report can say, file by file, what happened:
//
//   kReingested  every message was acknowledged; the file was deleted (unless `retain`).
//   kDamaged     the file was damaged (corrupt chunks): its intact messages were
//                acknowledged, what was skipped is in `damage`, and the file is always kept.
//   kUnreadable  the file could not be opened (missing, permissions); nothing was sent.
//   kFailed      Sift did not acknowledge the file (gave up after the retry policy, a status
//                retrying cannot fix, or the deadline); the file is kept.
//
// A torn tail (the end a crash mid-write leaves) is treated as the engine treats it
// (engine/reingestion_task.h); whatever that is, `damage` says what was cut off, measured
// before the file was sent: a file whose chunk headers do not lead exactly to its end is
// read once more, in salvage mode, before it is handed over.
//
// After a status retrying cannot fix (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT)
// no further file is attempted: they are all kFailed, and kept.
//
// The function blocks. It runs a private reactor loop (io_uring ring, gRPC completion queue,
// control bus, one ReingestionTask) on the calling thread, and calls `on_progress` from that
// thread every `progress_interval` and once at the end. The API key never appears in the
// report: every error text is scrubbed of it.
//
// Example:
//
//   engine::FileReingestOptions options;
//   options.uri = "api.siftstack.com:443";
//   options.api_key = key;
//   options.tls = true;
//   options.on_progress = [](const engine::FileReingestProgress& p) { Draw(p); };
//   absl::StatusOr<engine::FileReingestReport> report = engine::ReingestFiles(paths, options);
//   if (!report.ok()) return report.status();        // bad options, or no ring
//   if (!report->all_reingested()) Complain(report->errors);

#ifndef SIFT_STREAM_ENGINE_FILE_REINGESTER_H_
#define SIFT_STREAM_ENGINE_FILE_REINGESTER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/ingestion_task.h"
#include "engine/redact.h"
#include "io/pbfs_reader.h"

namespace sift_stream::engine {

// A snapshot of a run, for progress bars. Cumulative since the start of the run.
struct FileReingestProgress {
  size_t files_done = 0;  // Files whose job has ended, whatever the outcome.
  size_t files_total = 0;
  uint64_t messages_acknowledged = 0;  // By Sift, in files whose job succeeded.
  uint64_t bytes_acknowledged = 0;     // Serialized message bytes of those.
  // Handed to gRPC so far, attempts that failed included: a rate, not a count of data safe.
  uint64_t messages_sent = 0;
  // Sizes on disk: the files done, plus an estimate for the current one (message bytes sent
  // in it so far). For a percentage; exact once the run is over.
  uint64_t input_bytes_done = 0;
  uint64_t input_bytes_total = 0;
  uint64_t retries = 0;
  std::string current_file;  // Empty between files and at the end.
  absl::Duration elapsed = absl::ZeroDuration();
};

// What many callers want by default: a few retries, not the engine's "for ever".
inline RetryPolicy DefaultFileReingestRetry() {
  RetryPolicy retry;
  retry.max_attempts = 5;
  return retry;
}

struct FileReingestOptions {
  std::string uri;  // "host:port"
  std::string api_key;
  bool tls = false;  // TLS with the system's roots (real Sift); plaintext otherwise.
  bool retain = false;  // Keep files whose every message was acknowledged.
  // How long Sift may take to acknowledge a file's stream after its last message.
  absl::Duration ack_timeout = absl::Seconds(30);
  // Per file: attempts (max_attempts 0 retries for ever) and the backoff between them.
  RetryPolicy retry = DefaultFileReingestRetry();
  // For the whole run. When it runs out, the stream in flight is cancelled and the files not
  // yet acknowledged are kFailed (and kept).
  absl::Duration deadline = absl::InfiniteDuration();
  absl::Duration progress_interval = absl::Milliseconds(200);
  std::function<void(const FileReingestProgress&)> on_progress;  // May be empty.
};

enum class FileOutcome { kReingested, kDamaged, kUnreadable, kFailed };

// "re-ingested", "damaged", "unreadable" or "failed".
absl::string_view FileOutcomeName(FileOutcome outcome);

struct FileReingestResult {
  std::string path;
  FileOutcome outcome = FileOutcome::kFailed;
  uint64_t messages = 0;  // Acknowledged by Sift.
  uint64_t bytes = 0;     // Serialized message bytes of those.
  bool deleted = false;
  // What a salvage read of the file found, when it was not clean (damage.end != kClean):
  // end, problem and its offset, bytes_skipped, tail_bytes, messages_read. Set for kDamaged
  // files and for any file that ended in a torn tail, whatever its outcome.
  io::PbfsReadReport damage;
  std::vector<std::string> errors;  // What the engine said about this file, in order.
};

struct FileReingestReport {
  std::vector<FileReingestResult> files;  // In the order given.
  size_t files_reingested = 0;
  size_t files_damaged = 0;
  size_t files_unreadable = 0;
  size_t files_failed = 0;
  uint64_t messages = 0;  // Acknowledged by Sift, over all files.
  uint64_t bytes = 0;
  uint64_t retries = 0;
  absl::Duration elapsed = absl::ZeroDuration();
  // Every error text of the run, in order, including those not about one file.
  std::vector<std::string> errors;

  // Every file was re-ingested whole (no damage, nothing unreadable or failed).
  bool all_reingested() const { return files_reingested == files.size(); }
};

// Re-ingests `files` in order; see the file comment. Errors only when nothing could be
// attempted: InvalidArgument for an empty list or uri, or the ring could not be created.
// Everything that goes wrong with a file or with Sift is in the report.
absl::StatusOr<FileReingestReport> ReingestFiles(const std::vector<std::string>& files,
                                                 const FileReingestOptions& options);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_FILE_REINGESTER_H_
