// tools/pbfs_roundtrip.cc — pushes Sift ingest requests through the backup path and back.
//
// Every message the engine streams is also backed up on disk and re-ingested from there after
// a failure, so the backup path must be fast and must return exactly what went in. This tool
// checks both, without a network: it builds --messages IngestWithConfigDataStreamRequests (one
// per millisecond, --channels doubles each), serializes each once, frames them into PBFS chunks
// (io/pbfs_encoder.h), appends those to O_DIRECT files through io_uring (io/append_file.h),
// then reads every file back in strict mode (io/pbfs_reader.h) and compares every value.
// Write speed covers build + serialize + frame + write: the backup's cost per message.
// A summary goes to stderr, then one JSON line to stdout; exit status 0 means all of it matched.
//
//   bazel run -c opt //tools:pbfs_roundtrip -- --messages=100000 --dir=/data/backups --keep

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "io/append_file.h"
#include "io/pbfs_encoder.h"
#include "io/pbfs_reader.h"
#include "io/ring.h"
#include "proto/sift/ingest/v1/ingest.pb.h"

DEFINE_string(dir, "",
              "directory for the backup files (default: a new directory under "
              "$TMPDIR or /tmp, removed at the end unless --keep)");
DEFINE_int64(messages, 1000000, "ingest requests to write and read back");
DEFINE_int32(channels, 10, "double values per request");
DEFINE_int64(chunk_bytes, 256 << 10, "seal a PBFS chunk once it reaches this size");
DEFINE_int64(file_bytes, 64 << 20, "start a new backup file once one passes this size");
DEFINE_bool(keep, false, "keep the backup files (and the directory) after the run");

namespace sift_stream::tools {
namespace {

using sift::ingest::v1::IngestWithConfigDataChannelValue;
using sift::ingest::v1::IngestWithConfigDataStreamRequest;

constexpr char kConfigId[] = "6a8b0f3e-4bd5-4c0e-9a63-2f1f0f1d7e11";
constexpr char kFlow[] = "vehicle_state";
constexpr char kRunId[] = "d8c7a6b5-0000-4000-8000-123456789abc";
constexpr int64_t kStartSeconds = 1767225600;  // 2026-01-01T00:00:00Z.
// A healthy disk finishes a few MiB of writes in well under a second; minutes means it hung.
constexpr absl::Duration kIoTimeout = absl::Seconds(60);

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// A ramp per channel plus noise that uses all 53 bits of mantissa, so a single flipped bit
// anywhere shows, and the reader can recompute the exact value from the indices alone.
double ChannelValue(int64_t index, int channel) {
  uint64_t x = static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15u +
               static_cast<uint64_t>(channel) * 0xBF58476D1CE4E5B9u;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBu;
  return channel * 100.0 + index * 1e-3 + static_cast<double>(x >> 11) * 0x1p-53;
}

int64_t TimestampNanos(int64_t index) { return kStartSeconds * 1000000000 + index * 1000000; }

// Reuses `request` as the engine would: only the timestamp and the values change per message.
void FillRequest(int64_t index, int channels, IngestWithConfigDataStreamRequest& request) {
  if (request.ingestion_config_id().empty()) {
    request.set_ingestion_config_id(kConfigId);
    request.set_flow(kFlow);
    request.set_run_id(kRunId);
    for (int c = 0; c < channels; ++c) request.add_channel_values();
  }
  const int64_t nanos = TimestampNanos(index);
  request.mutable_timestamp()->set_seconds(nanos / 1000000000);
  request.mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  for (int c = 0; c < channels; ++c) {
    request.mutable_channel_values(c)->set_double_(ChannelValue(index, c));
  }
}

absl::Status CheckMessage(int64_t index, int channels,
                          const IngestWithConfigDataStreamRequest& got) {
  const int64_t got_nanos = got.timestamp().seconds() * 1000000000 + got.timestamp().nanos();
  if (got_nanos != TimestampNanos(index)) {
    return absl::DataLossError(absl::StrFormat(
        "message %d has timestamp %d ns, expected %d ns: messages lost, duplicated or reordered",
        index, got_nanos, TimestampNanos(index)));
  }
  if (got.ingestion_config_id() != kConfigId || got.flow() != kFlow || got.run_id() != kRunId ||
      got.channel_values_size() != channels) {
    return absl::DataLossError(absl::StrFormat(
        "message %d: config id, flow, run id or channel count differ from what was written",
        index));
  }
  for (int c = 0; c < channels; ++c) {
    const IngestWithConfigDataChannelValue& value = got.channel_values(c);
    const double want = ChannelValue(index, c);
    const double read = value.double_();
    // Bits, not ==, so that even a sign flip on zero counts.
    if (value.type_case() != IngestWithConfigDataChannelValue::kDouble ||
        std::memcmp(&want, &read, sizeof want) != 0) {
      return absl::DataLossError(
          absl::StrFormat("message %d channel %d: read %.17g, wrote %.17g", index, c, read, want));
    }
  }
  return absl::OkStatus();
}

// Appends chunks to roundtrip-000001.pbfs, roundtrip-000002.pbfs, ... in one directory,
// starting the next file once one has passed `file_bytes`.
class RotatingWriter {
 public:
  RotatingWriter(io::Ring& ring, std::string dir, uint64_t file_bytes, size_t chunk_bytes)
      : ring_(ring), dir_(std::move(dir)), file_bytes_(file_bytes) {
    // Three free buffers always hold a whole chunk, so back-pressure only ever means "wait".
    options_.buffer_size_bytes = std::max<size_t>(options_.buffer_size_bytes, chunk_bytes);
  }
  // AppendFile's buffers must outlive its writes in flight, even after an error.
  ~RotatingWriter() {
    if (file_ == nullptr) return;
    (void)io::RunUntil(
        ring_, [&] { return file_->idle(); }, kIoTimeout);
    if (!file_->idle()) (void)file_.release();  // The kernel still owns its buffers.
  }

  absl::Status Write(absl::string_view chunk) {
    if (file_ == nullptr) {
      const std::string path = absl::StrFormat("%s/roundtrip-%06d.pbfs", dir_, paths_.size() + 1);
      absl::StatusOr<std::unique_ptr<io::AppendFile>> file =
          io::AppendFile::Create(ring_, path, options_, nullptr);
      if (!file.ok()) return file.status();
      file_ = std::move(*file);
      paths_.push_back(path);
    }
    if (absl::Status s = Append(chunk); !s.ok()) return s;
    return file_->logical_size() >= file_bytes_ ? CloseFile() : absl::OkStatus();
  }

  absl::Status Finish() { return file_ == nullptr ? absl::OkStatus() : CloseFile(); }

  const std::vector<std::string>& paths() const { return paths_; }
  uint64_t bytes() const { return bytes_; }
  bool direct_io() const { return direct_io_; }
  int64_t stalls() const { return stalls_; }
  absl::Duration stalled() const { return stalled_; }

 private:
  // AppendFile takes a whole chunk or nothing, and refuses with Unavailable
  // while its buffers are being written; only turning the ring completes those writes.
  absl::Status Append(absl::string_view chunk) {
    absl::Status s = file_->Append(chunk);
    if (!absl::IsUnavailable(s)) return s;
    ++stalls_;
    const absl::Time start = absl::Now();
    s = io::RunUntil(
        ring_,
        [&] {
          return !file_->status().ok() || file_->free_bytes() >= chunk.size() || file_->idle();
        },
        kIoTimeout, absl::StrCat("a free write buffer for ", file_->path()));
    stalled_ += absl::Now() - start;
    return s.ok() ? file_->Append(chunk) : s;
  }

  // Close() cuts the in-flight padding off; a reader would call a zero tail a torn write.
  absl::Status CloseFile() {
    file_->Flush();
    absl::Status s = io::RunUntil(
        ring_, [&] { return file_->idle(); }, kIoTimeout,
        absl::StrCat("the last writes of ", file_->path()));
    if (!s.ok()) return s;
    direct_io_ = direct_io_ && file_->direct_io();
    bytes_ += file_->logical_size();
    s = file_->Close();
    file_.reset();
    return s;
  }

  io::Ring& ring_;
  const std::string dir_;
  const uint64_t file_bytes_;
  io::AppendFileOptions options_;
  std::unique_ptr<io::AppendFile> file_;
  std::vector<std::string> paths_;
  uint64_t bytes_ = 0;
  bool direct_io_ = true;
  int64_t stalls_ = 0;
  absl::Duration stalled_;
};

absl::Status WriteAll(RotatingWriter& writer) {
  io::PbfsChunkEncoder encoder;
  IngestWithConfigDataStreamRequest request;
  std::string serialized;
  for (int64_t i = 0; i < FLAGS_messages; ++i) {
    FillRequest(i, FLAGS_channels, request);
    request.SerializeToString(&serialized);
    if (absl::Status s = encoder.Add(serialized); !s.ok()) return s;
    if (encoder.size_bytes() >= static_cast<size_t>(FLAGS_chunk_bytes)) {
      if (absl::Status s = writer.Write(encoder.Seal()); !s.ok()) return s;
      encoder.Reset();
    }
  }
  if (!encoder.empty()) {
    if (absl::Status s = writer.Write(encoder.Seal()); !s.ok()) return s;
  }
  return writer.Finish();
}

// Reads one file, checking each message against the one written at `next_index`.
absl::Status ReadAndCheck(const std::string& path, int64_t& next_index, uint64_t& bytes) {
  absl::StatusOr<std::unique_ptr<io::PbfsReader>> reader =
      io::PbfsReader::OpenFile(path, io::PbfsReadMode::kStrict);
  if (!reader.ok()) return reader.status();
  IngestWithConfigDataStreamRequest request;
  absl::string_view message;
  while ((*reader)->Next(&message)) {
    if (next_index >= FLAGS_messages) {
      return absl::DataLossError(absl::StrCat(path, " holds more messages than were written"));
    }
    if (!request.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
      return absl::DataLossError(
          absl::StrFormat("%s: message %d does not parse as an IngestWithConfigDataStreamRequest",
                          path, next_index));
    }
    if (absl::Status s = CheckMessage(next_index, FLAGS_channels, request); !s.ok()) {
      return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
    }
    ++next_index;
  }
  if (!(*reader)->status().ok()) return (*reader)->status();
  const io::PbfsReadReport& report = (*reader)->report();
  if (report.end != io::PbfsEnd::kClean) {
    return absl::DataLossError(absl::StrCat(path, " does not end cleanly (",
                                            io::PbfsEndName(report.end), "): ", report.problem));
  }
  bytes += report.file_size_bytes;
  return absl::OkStatus();
}

absl::Status ValidateFlags() {
  auto bad = [](absl::string_view flag, int64_t value, absl::string_view want) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, " is invalid: it must be ", want));
  };
  if (FLAGS_messages < 0) return bad("messages", FLAGS_messages, "0 or more");
  if (FLAGS_channels < 0 || FLAGS_channels > 10000) {
    return bad("channels", FLAGS_channels, "between 0 and 10000");
  }
  if (FLAGS_chunk_bytes < 1 || FLAGS_chunk_bytes > (64 << 20)) {
    return bad("chunk_bytes", FLAGS_chunk_bytes, "between 1 and 67108864 (64 MiB)");
  }
  if (FLAGS_file_bytes < 1) return bad("file_bytes", FLAGS_file_bytes, "1 or more");
  return absl::OkStatus();
}

// Returns the directory to write to and whether this run created it (and so removes it).
absl::StatusOr<std::pair<std::string, bool>> PrepareDir() {
  if (FLAGS_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/pbfs_roundtrip-XXXXXX");
    if (mkdtemp(dir.data()) == nullptr) {
      return io::ErrnoToStatus(errno, "create temporary directory", dir);
    }
    return std::make_pair(dir, true);
  }
  struct stat st;
  if (stat(FLAGS_dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return io::ErrnoToStatus(errno, "look at backup directory", FLAGS_dir);
    return absl::NotFoundError(absl::StrCat("backup directory ", FLAGS_dir, " does not exist"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(FLAGS_dir, " is not a directory"));
  }
  return std::make_pair(FLAGS_dir, false);
}

void RemoveFiles(const std::vector<std::string>& paths, const std::string& dir, bool dir_ours) {
  for (const std::string& path : paths) {
    if (unlink(path.c_str()) != 0) absl::FPrintF(stderr, "warning: could not remove %s\n", path);
  }
  if (dir_ours && rmdir(dir.c_str()) != 0) {
    absl::FPrintF(stderr, "warning: could not remove directory %s\n", dir);
  }
}

// What the user can do about a failure, by its kind (errno codes map as in io::ErrnoToStatus).
absl::string_view Advice(absl::StatusCode code) {
  using Code = absl::StatusCode;
  if (code == Code::kNotFound || code == Code::kFailedPrecondition) {
    return "create the directory or pass --dir=<an existing directory>";
  }
  if (code == Code::kPermissionDenied) return "pass --dir=<a directory you can write to>";
  if (code == Code::kAlreadyExists) {
    return "remove the old roundtrip-*.pbfs files or pass --dir=<an empty directory>";
  }
  if (code == Code::kResourceExhausted) {
    return "free disk space, pass --dir on a larger file system, or lower --messages";
  }
  if (code == Code::kInvalidArgument) return "fix the flag (--help lists them all)";
  if (code == Code::kDataLoss) return "the backup path changed data: report it with the files";
  return "check the disk (dmesg) and the directory, then run again";
}

std::string FailureJson(const absl::Status& status) {
  const std::string error = absl::StrCat(status.message(), ": ", Advice(status.code()));
  absl::FPrintF(stderr, "pbfs_roundtrip: FAILED: %s\n", error);
  std::string escaped;
  for (unsigned char ch : error) {
    if (ch == '"' || ch == '\\') escaped.push_back('\\');
    if (ch < 0x20) {
      absl::StrAppendFormat(&escaped, "\\u%04x", ch);
    } else {
      escaped.push_back(static_cast<char>(ch));
    }
  }
  return absl::StrFormat("{\"ok\":false,\"error\":\"%s\"}", escaped);
}

struct Timing {
  double write_s = 0;
  double write_cpu_s = 0;
  double read_s = 0;
};

std::string SummaryJson(const RotatingWriter& writer, const std::string& dir, const Timing& t) {
  const double mb = writer.bytes() / 1e6;
  const double msgs = static_cast<double>(FLAGS_messages);
  const double write_s = std::max(t.write_s, 1e-9);
  const double read_s = std::max(t.read_s, 1e-9);
  const double cpu_ns_per_msg = msgs > 0 ? t.write_cpu_s * 1e9 / msgs : 0;
  absl::FPrintF(stderr,
                "  write: %d file(s), %.1f MB in %.3f s = %.1f MB/s, %.0f msgs/s, %.0f ns CPU/msg "
                "(build + serialize + frame + write)\n"
                "         waited %d times (%.0f ms in all) for a free write buffer\n"
                "  read:  %.3f s = %.1f MB/s (read + parse + compare)\n"
                "  O_DIRECT: %s\n"
                "  verified: all %d messages, in order, every value exact, every file clean\n",
                writer.paths().size(), mb, t.write_s, mb / write_s, msgs / write_s, cpu_ns_per_msg,
                writer.stalls(), absl::ToDoubleMilliseconds(writer.stalled()), t.read_s,
                mb / read_s, writer.direct_io() ? "yes" : "no", FLAGS_messages);
  if (!writer.direct_io()) {
    absl::FPrintF(stderr,
                  "  note: %s refused O_DIRECT (ramfs, overlay or network file system?); the "
                  "files went through the page cache, so the speeds above are memory speeds\n",
                  dir);
  }
  return absl::StrFormat(
      "{\"ok\":true,\"messages\":%d,\"files\":%d,\"bytes\":%d,\"direct_io\":%s,"
      "\"write_mb_per_s\":%.1f,\"write_msgs_per_s\":%.0f,\"read_mb_per_s\":%.1f,"
      "\"write_cpu_ns_per_msg\":%.0f,\"write_stalls\":%d}",
      FLAGS_messages, writer.paths().size(), writer.bytes(), writer.direct_io() ? "true" : "false",
      mb / write_s, msgs / write_s, mb / read_s, cpu_ns_per_msg, writer.stalls());
}

// Reads every file back in the order written; the message indices run on across files.
absl::Status ReadAll(const RotatingWriter& writer) {
  int64_t messages = 0;
  uint64_t bytes = 0;
  for (const std::string& path : writer.paths()) {
    if (absl::Status s = ReadAndCheck(path, messages, bytes); !s.ok()) return s;
  }
  if (messages != FLAGS_messages || bytes != writer.bytes()) {
    return absl::DataLossError(
        absl::StrFormat("read back %d messages in %d bytes, wrote %d messages in %d bytes",
                        messages, bytes, FLAGS_messages, writer.bytes()));
  }
  return absl::OkStatus();
}

int FailEarly(const absl::Status& status) {
  absl::PrintF("%s\n", FailureJson(status));
  return 1;
}

int Run() {
  if (absl::Status s = ValidateFlags(); !s.ok()) return FailEarly(s);
  absl::StatusOr<std::unique_ptr<io::Ring>> ring = io::Ring::Create(64);
  if (!ring.ok()) return FailEarly(ring.status());
  absl::StatusOr<std::pair<std::string, bool>> dir = PrepareDir();
  if (!dir.ok()) return FailEarly(dir.status());
  absl::FPrintF(stderr,
                "pbfs_roundtrip: %d messages of %d doubles -> %s (%d-byte chunks, new file "
                "past %d bytes)\n",
                FLAGS_messages, FLAGS_channels, dir->first, FLAGS_chunk_bytes, FLAGS_file_bytes);

  RotatingWriter writer(**ring, dir->first, FLAGS_file_bytes, FLAGS_chunk_bytes);
  Timing timing;
  const double cpu_start = CpuSeconds();
  const absl::Time write_start = absl::Now();
  absl::Status status = WriteAll(writer);
  timing.write_s = absl::ToDoubleSeconds(absl::Now() - write_start);
  timing.write_cpu_s = CpuSeconds() - cpu_start;
  if (status.ok()) {
    const absl::Time read_start = absl::Now();
    status = ReadAll(writer);
    timing.read_s = absl::ToDoubleSeconds(absl::Now() - read_start);
  }

  // Files that failed verification are the evidence; otherwise they are clutter.
  const bool keep = FLAGS_keep || absl::IsDataLoss(status);
  if (!keep) RemoveFiles(writer.paths(), dir->first, dir->second);
  std::string json = status.ok() ? SummaryJson(writer, dir->first, timing) : FailureJson(status);
  if (keep) absl::FPrintF(stderr, "  files kept in %s\n", dir->first);
  absl::PrintF("%s\n", json);
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream::tools

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Writes Sift ingest requests to O_DIRECT PBFS backup files, reads them back and checks "
      "every value. Prints a summary to stderr and one JSON line to stdout; exits 0 only if "
      "everything matched.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::tools::Run();
}
