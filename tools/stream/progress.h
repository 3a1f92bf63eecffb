// tools/stream/progress.h — how far a replay is, for a person watching or for a log.
//
// On a terminal: one line redrawn in place (a bar and ETA when the input's size is known,
// i.e. a file rather than stdin). Otherwise (CI, `2>log`): a plain line every interval, since
// carriage returns make a log unreadable. The formatting is a pure function so tests pin it.

#ifndef SIFT_STREAM_TOOLS_STREAM_PROGRESS_H_
#define SIFT_STREAM_TOOLS_STREAM_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sift_stream::tools {

struct ProgressState {
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t total_bytes = 0;  // 0: unknown (stdin, a pipe).
  absl::Duration elapsed;
};

// "12,345 rows  5,120 rows/s  [#####.....] 48%  ETA 0:07" (bar and ETA only with a size).
std::string FormatProgress(const ProgressState& state, bool bar);

class ProgressReporter {
 public:
  ProgressReporter(FILE* out, bool terminal, uint64_t total_bytes, absl::Duration interval);

  // Prints if the last print is `interval` old (a tenth of a second on a terminal).
  void Update(uint64_t rows, uint64_t bytes);
  // Ends the redrawn line so what follows starts on a clean one.
  void Done();

 private:
  FILE* out_;
  const bool terminal_;
  const uint64_t total_bytes_;
  const absl::Duration interval_;
  const absl::Time start_ = absl::Now();
  absl::Time last_ = absl::Now();
  bool drawn_ = false;
};

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_STREAM_PROGRESS_H_
