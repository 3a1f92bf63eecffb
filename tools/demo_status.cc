// tools/demo_status.cc — formats the status line and the summary table; prints the line.

#include "tools/demo_status.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace sift_stream::demo {
namespace {

constexpr absl::Duration kTtyRedraw = absl::Milliseconds(250);

// Columns of the terminal on `out`, or 0 if unknown: a redrawn line must not wrap, or the
// carriage return would go back to the start of its last row only.
size_t TerminalWidth(FILE* out) {
  winsize size{};
  if (ioctl(fileno(out), TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

// Why an estimate from the files rather than sent - acknowledged - re-ingested: a checkpoint
// whose first stream failed and whose next one was acknowledged counts in both metrics (it
// is re-ingested whole), so that difference undercounts, down to nonsense; and the files are
// what would survive a crash.
uint64_t MessagesOnDisk(const StatusSample& s) {
  const SiftStreamMetrics& m = s.metrics;
  if (m.bytes_backed_up == 0) return 0;
  return static_cast<uint64_t>(static_cast<double>(s.disk.bytes) * m.messages_backed_up /
                               m.bytes_backed_up);
}

void Row(FILE* out, const char* label, const std::string& value) {
  std::fprintf(out, "  %-24s %s\n", label, value.c_str());
}

std::string Rate(uint64_t messages, absl::Duration over) {
  const double seconds = absl::ToDoubleSeconds(over);
  return Grouped(seconds > 0 ? static_cast<uint64_t>(messages / seconds) : 0);
}

}  // namespace

DiskBacklog ScanBackupDir(const std::string& dir) {
  DiskBacklog backlog;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    if (it->path().extension() != ".pbfs") continue;
    std::error_code size_error;
    const uintmax_t size = it->file_size(size_error);
    if (size_error) continue;  // Deleted since it was listed: acknowledged meanwhile.
    ++backlog.files;
    backlog.bytes += size;
  }
  return backlog;
}

std::string Grouped(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string FormatStatusLine(const StatusSample& s) {
  const SiftStreamMetrics& m = s.metrics;
  std::string line = absl::StrFormat(
      "[%5.1fs] sent %s | acked %s | on disk ~%s msgs / %d files | re-ingested %s | %s msg/s | "
      "checkpoints %d ok / %d failed",
      absl::ToDoubleSeconds(s.elapsed), Grouped(m.messages_sent),
      Grouped(m.messages_acknowledged), Grouped(MessagesOnDisk(s)), s.disk.files,
      Grouped(m.messages_reingested), Grouped(static_cast<uint64_t>(s.msgs_per_s)),
      m.checkpoints_ok, m.checkpoints_failed);
  if (!s.marker.empty()) absl::StrAppend(&line, " | ", s.marker);
  return line;
}

StatusPrinter::StatusPrinter(FILE* out, bool tty, absl::Duration interval, Source source)
    : out_(out),
      tty_(tty),
      interval_(tty ? kTtyRedraw : interval),
      source_(std::move(source)),
      start_(absl::Now()),
      last_time_(start_) {
  thread_ = std::thread([this] { Loop(); });
}

void StatusPrinter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  PrintLine();
  if (tty_) std::fputc('\n', out_);
  std::fflush(out_);
}

void StatusPrinter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stop_; })) {
    lock.unlock();
    PrintLine();
    lock.lock();
  }
}

void StatusPrinter::PrintLine() {
  StatusSample sample;
  source_(&sample);
  const absl::Time now = absl::Now();
  sample.elapsed = now - start_;
  const double seconds = absl::ToDoubleSeconds(now - last_time_);
  const uint64_t sent = sample.metrics.messages_sent;
  sample.msgs_per_s = seconds > 0 ? (sent - std::min(sent, last_sent_)) / seconds : 0;
  last_time_ = now;
  last_sent_ = sent;
  std::string line = FormatStatusLine(sample);
  if (!tty_) {
    std::fprintf(out_, "%s\n", line.c_str());
  } else {
    const size_t width = TerminalWidth(out_);
    if (width > 1 && line.size() >= width) line.resize(width - 1);
    // ESC[K clears the rest of the row. The cursor is then parked at the start of the row, so
    // that a log line the library writes to stderr meanwhile overwrites the status instead of
    // being glued to its end, and the next redraw goes on the row below it.
    std::fprintf(out_, "\r%s\x1b[K\r", line.c_str());
  }
  std::fflush(out_);
}

void PrintSummary(FILE* out, const Summary& s) {
  const SiftStreamMetrics& m = s.metrics;
  std::fprintf(out, "summary\n");
  Row(out, "sent", absl::StrFormat("%s messages in %.1f s", Grouped(s.sent),
                                   absl::ToDoubleSeconds(s.send_time)));
  Row(out, "committed (unique)",
      absl::StrCat(Grouped(s.committed),
                   s.checked_at_server
                       ? " (checked key by key at the fake Sift)"
                       : " (acknowledged + re-ingested, as the client counts them: "
                         "real Sift does not report keys)"));
  Row(out, "lost", Grouped(s.lost()));
  Row(out, "duplicates",
      s.checked_at_server
          ? absl::StrCat(Grouped(s.duplicates), " (re-sent after failed checkpoints; ",
                         Grouped(s.committed_duplicates), " of them already committed)")
          : std::string("unknown (real Sift does not report them)"));
  if (!s.faults.empty()) Row(out, "faults injected", s.faults);
  Row(out, "checkpoints", absl::StrCat(Grouped(m.checkpoints_ok), " ok, ",
                                       Grouped(m.checkpoints_failed), " failed"));
  Row(out, "acknowledged live", Grouped(m.messages_acknowledged));
  Row(out, "re-ingested", Grouped(m.messages_reingested));
  Row(out, "Send() pushed back", absl::StrCat(Grouped(m.messages_refused), " times"));
  Row(out, "throughput",
      absl::StrFormat("%s msg/s sent, %.1f MB/s; %s msg/s committed end to end",
                      Rate(s.sent, s.send_time),
                      absl::ToDoubleSeconds(s.send_time) > 0
                          ? m.bytes_sent / absl::ToDoubleSeconds(s.send_time) / 1e6
                          : 0.0,
                      Rate(s.committed, s.send_time + s.finish_time)));
  Row(out, "finish", absl::StrCat(s.finish_result, " after ",
                                 absl::FormatDuration(absl::Trunc(s.finish_time,
                                                                  absl::Milliseconds(1)))));
  if (s.passed()) {
    std::fprintf(out, "result: PASS - all %s messages committed, none lost\n",
                 Grouped(s.sent).c_str());
  } else if (s.lost() > 0) {
    std::fprintf(out, "result: FAIL - %s of %s messages lost\n", Grouped(s.lost()).c_str(),
                 Grouped(s.sent).c_str());
  } else {
    std::fprintf(out, "result: FAIL - Finish did not confirm everything\n");
  }
  std::fflush(out);
}

}  // namespace sift_stream::demo
