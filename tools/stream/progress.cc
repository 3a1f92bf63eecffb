#include "tools/stream/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "tools/progress_text.h"

namespace sift_stream::tools {

std::string FormatProgress(const ProgressState& state, bool bar) {
  const double seconds = absl::ToDoubleSeconds(state.elapsed);
  const uint64_t rate = seconds > 0 ? static_cast<uint64_t>(state.rows / seconds) : 0;
  std::string line = absl::StrCat(Thousands(state.rows), " rows  ", Thousands(rate), " rows/s");
  if (state.total_bytes == 0) return line;
  const double done = std::min(1.0, double(state.bytes) / double(state.total_bytes));
  if (bar) absl::StrAppend(&line, "  ", ProgressBar(done, 20));
  absl::StrAppend(&line, "  ", static_cast<int>(done * 100), "%");
  if (const std::string eta = EtaClock(state.elapsed, done); !eta.empty()) {
    absl::StrAppend(&line, "  ETA ", eta);
  }
  return line;
}

ProgressReporter::ProgressReporter(FILE* out, bool terminal, uint64_t total_bytes,
                                   absl::Duration interval)
    : out_(out),
      terminal_(terminal),
      total_bytes_(total_bytes),
      interval_(terminal ? absl::Milliseconds(100) : interval) {}

void ProgressReporter::Update(uint64_t rows, uint64_t bytes) {
  const absl::Time now = absl::Now();
  if (now - last_ < interval_) return;
  last_ = now;
  const std::string line = FormatProgress({rows, bytes, total_bytes_, now - start_}, terminal_);
  if (terminal_) {
    std::fprintf(out_, "\r\033[K%s", line.c_str());  // \033[K: clear what a longer line left.
    drawn_ = true;
  } else {
    std::fprintf(out_, "stream: %s\n", line.c_str());
  }
  std::fflush(out_);
}

void ProgressReporter::Done() {
  if (drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

}  // namespace sift_stream::tools
