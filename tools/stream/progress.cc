#include "tools/stream/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sift_stream::tools {
namespace {

std::string Thousands(uint64_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string Clock(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

}  // namespace

std::string FormatProgress(const ProgressState& state, bool bar) {
  const double seconds = absl::ToDoubleSeconds(state.elapsed);
  const uint64_t rate = seconds > 0 ? static_cast<uint64_t>(state.rows / seconds) : 0;
  std::string line = absl::StrCat(Thousands(state.rows), " rows  ", Thousands(rate), " rows/s");
  if (state.total_bytes == 0) return line;
  const double done = std::min(1.0, double(state.bytes) / double(state.total_bytes));
  if (bar) {
    const int filled = static_cast<int>(done * 20);
    absl::StrAppend(&line, "  [", std::string(filled, '#'), std::string(20 - filled, '.'), "]");
  }
  absl::StrAppend(&line, "  ", static_cast<int>(done * 100), "%");
  if (done > 0 && seconds > 0) {
    absl::StrAppend(&line, "  ETA ", Clock(state.elapsed * ((1 - done) / done)));
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
