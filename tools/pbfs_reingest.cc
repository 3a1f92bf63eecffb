#include "tools/pbfs_reingest.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/pbfs_reader.h"
#include "tools/progress_text.h"

namespace sift_stream::tools {
namespace {

using engine::FileOutcome;
using engine::FileReingestProgress;
using engine::FileReingestReport;
using engine::FileReingestResult;

// In a log, a line per second is enough to see that it moves and how fast.
constexpr absl::Duration kLineInterval = absl::Seconds(1);
// On a terminal, ten redraws a second look smooth and cost nothing.
constexpr absl::Duration kRedrawInterval = absl::Milliseconds(100);

std::string Megabytes(uint64_t bytes) { return absl::StrFormat("%.1f MB", bytes / 1e6); }

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What was skipped in a damaged file, from the salvage read's report.
std::string DescribeDamage(const io::PbfsReadReport& damage) {
  return absl::StrFormat("%s at offset %d: %s; %d bytes skipped in %d region%s, %d tail bytes "
                         "unread",
                         io::PbfsEndName(damage.end), damage.problem_offset, damage.problem,
                         damage.bytes_skipped, damage.regions_skipped,
                         damage.regions_skipped == 1 ? "" : "s", damage.tail_bytes);
}

std::string DescribeFile(const FileReingestResult& file) {
  const std::string kept = file.deleted ? "deleted" : "kept";
  switch (file.outcome) {
    case FileOutcome::kReingested:
      if (file.damage.end != io::PbfsEnd::kClean) {  // A torn tail: the end of a crash.
        return absl::StrCat(file.messages, " intact messages; ", DescribeDamage(file.damage),
                            "; file ", kept);
      }
      return absl::StrCat(file.messages, " messages; file ", kept);
    case FileOutcome::kDamaged:
      return absl::StrCat(file.messages, " intact messages re-ingested; ",
                          DescribeDamage(file.damage), "; file kept");
    case FileOutcome::kUnreadable:
    case FileOutcome::kFailed:
      return absl::StrJoin(file.errors, " | ");
  }
  return "";
}

// The width of the terminal `file` is on, or 0 if it is not one or does not say.
int TerminalColumns(std::FILE* file) {
  winsize size{};
  if (ioctl(fileno(file), TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

// Draws progress in `style`; remembers what it drew so that it can finish the line.
class ProgressPrinter {
 public:
  ProgressPrinter(ProgressStyle style, std::FILE* err)
      : style_(style), err_(err), columns_(TerminalColumns(err)) {}

  void Update(const FileReingestProgress& progress) {
    seen_ = true;
    last_ = progress;
    if (style_ == ProgressStyle::kTerminal && progress.elapsed >= next_draw_) {
      Draw();
      next_draw_ = progress.elapsed + kRedrawInterval;
    } else if (style_ == ProgressStyle::kLines && progress.elapsed >= next_line_) {
      std::fprintf(err_, "pbfs reingest: %s\n", FormatProgress(progress).c_str());
      std::fflush(err_);
      next_line_ = progress.elapsed + kLineInterval;
    }
  }

  void Finish(const FileReingestProgress& last) {
    if (!seen_) return;
    if (style_ == ProgressStyle::kLines) {
      next_line_ = absl::ZeroDuration();
      Update(last);  // The final numbers, whenever the previous line was.
    } else if (style_ == ProgressStyle::kTerminal) {
      last_ = last;
      Draw();
      std::fputc('\n', err_);
    }
  }

 private:
  // "\r" goes back to the start of the line and "\033[K" clears what a longer line left.
  void Draw() {
    std::fprintf(err_, "\r\033[K%s", FormatProgressBar(last_, columns_).c_str());
    std::fflush(err_);
  }

  const ProgressStyle style_;
  std::FILE* const err_;
  const int columns_;
  FileReingestProgress last_;
  bool seen_ = false;
  absl::Duration next_line_ = absl::ZeroDuration();
  absl::Duration next_draw_ = absl::ZeroDuration();
};

}  // namespace

std::string FormatProgress(const FileReingestProgress& p) {
  const double seconds = std::max(absl::ToDoubleSeconds(p.elapsed), 1e-3);
  const double percent =
      p.input_bytes_total == 0 ? 100.0 : 100.0 * p.input_bytes_done / p.input_bytes_total;
  std::string line = absl::StrFormat(
      "%d/%d files, %d messages sent (%.0f msgs/s), %d acknowledged, %.0f%% of %s",
      p.files_done, p.files_total, p.messages_sent, p.messages_sent / seconds,
      p.messages_acknowledged, percent, Megabytes(p.input_bytes_total));
  if (p.retries > 0) absl::StrAppend(&line, ", ", p.retries, " retries");
  if (!p.current_file.empty()) absl::StrAppend(&line, ": ", Basename(p.current_file));
  return line;
}

std::string FormatProgressBar(const FileReingestProgress& p, int columns) {
  const double seconds = std::max(absl::ToDoubleSeconds(p.elapsed), 1e-3);
  const double done =
      p.input_bytes_total == 0 ? 1.0 : double(p.input_bytes_done) / p.input_bytes_total;
  std::string line = absl::StrCat(ProgressBar(done, 24), " ",
                                  static_cast<int>(std::clamp(done, 0.0, 1.0) * 100), "%");
  if (const std::string eta = EtaClock(p.elapsed, done); !eta.empty() && done < 1) {
    absl::StrAppend(&line, "  ETA ", eta);
  }
  absl::StrAppend(&line, "  ", p.files_done, "/", p.files_total, " files  ",
                  Thousands(p.messages_sent), " msgs (",
                  Thousands(static_cast<uint64_t>(p.messages_sent / seconds)), "/s)  ",
                  Thousands(p.messages_acknowledged), " acked");
  if (p.retries > 0) absl::StrAppend(&line, "  ", p.retries, " retries");
  if (!p.current_file.empty()) absl::StrAppend(&line, "  ", Basename(p.current_file));
  // A line wider than the terminal wraps, and "\r" would then redraw only its last part.
  if (columns > 1 && line.size() >= static_cast<size_t>(columns)) line.resize(columns - 1);
  return line;
}

std::string FormatSummary(const FileReingestReport& report, const std::string& uri) {
  std::string out = absl::StrFormat("pbfs reingest: %d file%s to %s in %.2f s\n",
                                    report.files.size(), report.files.size() == 1 ? "" : "s",
                                    uri, absl::ToDoubleSeconds(report.elapsed));
  for (const FileReingestResult& file : report.files) {
    absl::StrAppendFormat(&out, "  %-12s %s: %s\n", engine::FileOutcomeName(file.outcome),
                          file.path, DescribeFile(file));
  }
  absl::StrAppendFormat(
      &out,
      "summary: %d re-ingested, %d damaged, %d unreadable, %d failed; %d messages (%s) "
      "acknowledged by Sift%s\n",
      report.files_reingested, report.files_damaged, report.files_unreadable,
      report.files_failed, report.messages, Megabytes(report.bytes),
      report.retries > 0 ? absl::StrCat(", ", report.retries, " retries") : "");
  return out;
}

int RunReingest(const std::vector<std::string>& files, engine::FileReingestOptions options,
                ProgressStyle style, std::FILE* out, std::FILE* err) {
  ProgressPrinter printer(style, err);
  FileReingestProgress last;
  options.on_progress = [&](const FileReingestProgress& progress) {
    last = progress;
    printer.Update(progress);
  };
  absl::StatusOr<FileReingestReport> report = engine::ReingestFiles(files, options);
  printer.Finish(last);
  if (!report.ok()) {
    std::fprintf(err, "pbfs reingest: %s\n",
                 engine::RedactApiKey(report.status().ToString(), options.api_key).c_str());
    return 1;
  }
  std::fputs(FormatSummary(*report, options.uri).c_str(), out);
  return report->all_reingested() ? 0 : 1;
}

}  // namespace sift_stream::tools
