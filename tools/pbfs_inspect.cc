#include "tools/pbfs_inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/pbfs_format.h"

namespace sift_stream::tools {
namespace {

absl::Status ErrnoStatus(int error, absl::string_view what, const std::string& path) {
  const std::string text = absl::StrCat(path, ": ", what, ": ", std::strerror(error));
  return error == ENOENT ? absl::NotFoundError(text) : absl::UnknownError(text);
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::vector<std::string>> PbfsFilesIn(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(opendir(dir.c_str()), closedir);
  if (handle == nullptr) return ErrnoStatus(errno, "cannot list directory", dir);
  std::vector<std::string> files;
  const std::string prefix = absl::EndsWith(dir, "/") ? dir : absl::StrCat(dir, "/");
  while (const dirent* entry = readdir(handle.get())) {
    const std::string path = absl::StrCat(prefix, entry->d_name);
    if (absl::EndsWith(entry->d_name, ".pbfs") && IsRegularFile(path)) files.push_back(path);
  }
  if (files.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": directory holds no .pbfs files"));
  }
  std::sort(files.begin(), files.end());
  return files;
}

absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

void Count(PbfsInspection& inspection, const IngestRequest& request) {
  ++inspection.flows[request.flow()];
  ++inspection.config_ids[request.ingestion_config_id()];
  if (!request.has_timestamp()) return;
  const absl::Time time = ToTime(request.timestamp());
  if (!inspection.earliest.has_value() || time < *inspection.earliest) inspection.earliest = time;
  if (!inspection.latest.has_value() || time > *inspection.latest) inspection.latest = time;
}

// The file's first bytes, to tell a torn first chunk from something that is not PBFS at all.
std::string Head(const std::string& path) {
  std::string head(io::kPbfsChunkHeaderBytes, '\0');
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  const ssize_t n = pread(fd, head.data(), head.size(), 0);
  close(fd);
  head.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return head;
}

// See the file comment of pbfs_inspect.h.
void ApplyNotPbfsRule(PbfsInspection& inspection) {
  const io::PbfsReadReport& report = inspection.report;
  if (report.chunks_read > 0 || report.end == io::PbfsEnd::kClean) return;
  const std::string head = Head(inspection.path);
  if (head.find_first_not_of('\0') == std::string::npos) return;  // Zeros: a torn write.
  // 8 ASCII bytes read as a length are ~10^17: far past any plausible chunk.
  if (head.size() == io::kPbfsChunkHeaderBytes &&
      io::pbfs_internal::LoadLittleEndian64(head.data() + io::kPbfsCrcBytes) <=
          io::kPbfsMaxPlausibleChunkBytes) {
    return;  // A header that could be real: the reader's verdict stands.
  }
  inspection.not_pbfs = true;
  inspection.report.end = io::PbfsEnd::kCorrupt;
  inspection.report.problem_offset = 0;
}

std::string Plural(uint64_t n, absl::string_view word) {
  return absl::StrCat(n, " ", word, n == 1 ? "" : "s");
}

std::string FormatCounts(const std::map<std::string, uint64_t>& counts) {
  std::vector<std::string> parts;
  for (const auto& [name, n] : counts) {
    parts.push_back(absl::StrCat(name.empty() ? "(none)" : name, " ", n));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandPbfsPath(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return ErrnoStatus(errno, "cannot stat", path);
  }
  if (S_ISDIR(st.st_mode)) return PbfsFilesIn(path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": neither a regular file nor a directory"));
  }
  return std::vector<std::string>{path};
}

absl::StatusOr<PbfsInspection> InspectPbfsFile(const std::string& path,
                                               const MessageVisitor& visit) {
  absl::StatusOr<std::unique_ptr<io::PbfsReader>> reader =
      io::PbfsReader::OpenFile(path, io::PbfsReadMode::kSalvage);
  if (!reader.ok()) return reader.status();
  PbfsInspection inspection;
  inspection.path = path;
  IngestRequest request;
  absl::string_view message;
  while ((*reader)->Next(&message)) {
    const uint64_t index = inspection.messages++;
    if (!request.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
      if (inspection.unparseable++ == 0) inspection.first_unparseable = index;
      continue;
    }
    Count(inspection, request);
    if (visit) visit(index, request);
  }
  inspection.read_error = (*reader)->status();
  inspection.report = (*reader)->report();
  ApplyNotPbfsRule(inspection);
  return inspection;
}

std::string DescribeEnd(const PbfsInspection& inspection) {
  const io::PbfsReadReport& report = inspection.report;
  if (inspection.not_pbfs) {
    return absl::StrCat("corrupt at offset 0: not a PBFS file (no intact chunk in ",
                        Plural(report.file_size_bytes, "byte"),
                        ", and its first bytes cannot start one)");
  }
  if (report.end == io::PbfsEnd::kClean) return "clean";
  return absl::StrCat(io::PbfsEndName(report.end), " at offset ", report.problem_offset, ": ",
                      report.problem, "; ", Plural(report.bytes_skipped, "byte"),
                      " skipped in ", Plural(report.regions_skipped, "region"), ", ",
                      report.tail_bytes, " tail bytes unread");
}

std::string DescribeProblems(const PbfsInspection& inspection) {
  std::vector<std::string> problems;
  if (inspection.report.end != io::PbfsEnd::kClean) problems.push_back(DescribeEnd(inspection));
  if (!inspection.read_error.ok()) {
    problems.push_back(absl::StrCat("read error: ", inspection.read_error.message()));
  }
  if (inspection.unparseable > 0) {
    problems.push_back(absl::StrCat(
        Plural(inspection.unparseable, "message"), inspection.unparseable == 1 ? " does" : " do",
        " not parse as sift.ingest.v1.IngestWithConfigDataStreamRequest (first: message ",
        inspection.first_unparseable, ")"));
  }
  return absl::StrJoin(problems, "; ");
}

std::string FormatTimestamp(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

std::string FormatInspection(const PbfsInspection& inspection) {
  const io::PbfsReadReport& report = inspection.report;
  std::string time_range = "-";
  if (inspection.earliest.has_value()) {
    time_range = absl::StrCat(FormatTimestamp(*inspection.earliest), " .. ",
                              FormatTimestamp(*inspection.latest));
  }
  std::string out = absl::StrFormat(
      "%s\n  size:         %d bytes\n  chunks:       %d\n  messages:     %d\n"
      "  time range:   %s\n  flows:        %s\n  config ids:   %s\n  end:          %s\n",
      inspection.path, report.file_size_bytes, report.chunks_read, inspection.messages,
      time_range, FormatCounts(inspection.flows), FormatCounts(inspection.config_ids),
      DescribeEnd(inspection));
  if (report.end != io::PbfsEnd::kClean && !inspection.not_pbfs) {
    absl::StrAppendFormat(&out, "  last intact:  chunk ending at offset %d\n",
                          report.good_end_offset);
  }
  if (inspection.unparseable > 0) {
    absl::StrAppendFormat(&out, "  unparseable:  %d (first: message %d)\n",
                          inspection.unparseable, inspection.first_unparseable);
  }
  if (!inspection.read_error.ok()) {
    absl::StrAppend(&out, "  read error:   ", inspection.read_error.message(), "\n");
  }
  return out;
}

}  // namespace sift_stream::tools
