// pbfs — looks into PBFS backup files and sends them to Sift again.
//
//   pbfs inspect FILE|DIR...      what is in each file and how it ends
//   pbfs verify FILE|DIR...       exit 0 only if every file is clean and every message parses
//   pbfs dump [--json] FILE|DIR...  one line per intact message (JSON or protobuf text)
//   pbfs reingest --uri=H:P [--api_key=K] [--tls] [--retain] [--include_acked] FILE|DIR...
//   (skips files with an ".acked" marker, and holds each directory's sift_stream.lock so that
//   it never races a live stream on the same files)
//
// A DIR stands for the *.pbfs files in it, sorted by name. Exit status: 0 success, 1 a file
// or path had a problem (verify: any file not clean; reingest: any file not re-ingested
// whole), 2 usage errors. Data goes to stdout, problems and progress to stderr. Files from
// Sift's own clients and from sift_stream are read alike (../shared/spec/pbfs.md). The tool
// never modifies a file except `reingest`, which deletes the files Sift acknowledged (unless
// --retain). See docs/pbfs_tool.md.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/backup_dir.h"
#include "engine/file_reingester.h"
#include "gflags/gflags.h"
#include "google/protobuf/util/json_util.h"
#include "tools/pbfs_inspect.h"
#include "tools/pbfs_reingest.h"

DEFINE_bool(json, false, "dump: one JSON object per message (default: protobuf text format)");
DEFINE_string(uri, "", "reingest: Sift's gRPC address, host:port");
DEFINE_string(api_key, "", "reingest: API key (default: $SIFT_API_KEY)");
DEFINE_bool(tls, false, "reingest: use TLS (real Sift); plaintext otherwise");
DEFINE_bool(retain, false, "reingest: keep files after Sift acknowledged them");
DEFINE_int64(ack_timeout_ms, 30000, "reingest: how long Sift may take to acknowledge a file");
DEFINE_int32(max_attempts, 5, "reingest: attempts per file (0: retry for ever)");
DEFINE_int64(deadline_s, 0, "reingest: give up after this many seconds (0: no limit)");
DEFINE_string(progress, "auto", "reingest: auto (bar on a terminal), bar, lines or none");
DEFINE_bool(include_acked, false,
            "reingest: also send files with an .acked marker (Sift acknowledged them already)");

namespace sift_stream::tools {
namespace {

constexpr int kOk = 0;
constexpr int kProblem = 1;
constexpr int kUsage = 2;

constexpr char kUsageText[] =
    "usage: pbfs <command> [flags] FILE|DIR...\n"
    "\n"
    "commands:\n"
    "  inspect   size, chunks, messages, time range, flows, config ids and end state\n"
    "  verify    exit 0 only if every file is clean and every message parses\n"
    "  dump      print every intact message, one per line (--json for JSON)\n"
    "  reingest  send the files to Sift (--uri, --api_key, --tls, --retain)\n"
    "\n"
    "A DIR means every *.pbfs file in it, sorted by name. Exit status: 0 ok, 1 a file had a\n"
    "problem, 2 usage error. Flags: pbfs --helpfull.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "pbfs: %s\n\n%s", message.c_str(), kUsageText);
  return kUsage;
}

// gflags exits 1 on an unknown flag; for this tool that is a usage error (2), so flags are
// checked before gflags sees them. Returns the first unknown flag's text, or "".
std::string FindUnknownFlag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    absl::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
    const bool has_value = name.find('=') != absl::string_view::npos;
    name = name.substr(0, name.find('='));
    gflags::CommandLineFlagInfo info;
    if (gflags::GetCommandLineFlagInfo(std::string(name).c_str(), &info)) {
      if (info.type != "bool" && !has_value) ++i;  // "--uri H:P": the value is next.
      continue;
    }
    if (absl::StartsWith(name, "no") &&
        gflags::GetCommandLineFlagInfo(std::string(name.substr(2)).c_str(), &info) &&
        info.type == "bool") {
      continue;
    }
    return std::string(arg);
  }
  return "";
}

// Every file the arguments stand for; a path that stands for none is reported on stderr.
std::vector<std::string> ExpandAll(absl::string_view command, int argc, char** argv,
                                   bool* all_ok) {
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    absl::StatusOr<std::vector<std::string>> expanded = ExpandPbfsPath(argv[i]);
    if (!expanded.ok()) {
      std::fprintf(stderr, "pbfs %s: %s\n", std::string(command).c_str(),
                   std::string(expanded.status().message()).c_str());
      *all_ok = false;
      continue;
    }
    files.insert(files.end(), expanded->begin(), expanded->end());
  }
  return files;
}

void ReportOpenError(absl::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "pbfs %s: %s\n", std::string(command).c_str(),
               std::string(status.message()).c_str());
}

int Inspect(const std::vector<std::string>& files, bool ok) {
  bool first = true;
  for (const std::string& file : files) {
    absl::StatusOr<PbfsInspection> inspection = InspectPbfsFile(file);
    if (!inspection.ok()) {
      ReportOpenError("inspect", inspection.status());
      ok = false;
      continue;
    }
    std::printf("%s%s", first ? "" : "\n", FormatInspection(*inspection).c_str());
    first = false;
  }
  return ok ? kOk : kProblem;
}

int Verify(const std::vector<std::string>& files, bool ok) {
  for (const std::string& file : files) {
    absl::StatusOr<PbfsInspection> inspection = InspectPbfsFile(file);
    if (!inspection.ok()) {
      ReportOpenError("verify", inspection.status());
      ok = false;
    } else if (!inspection->ok()) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), DescribeProblems(*inspection).c_str());
      ok = false;
    } else {
      std::printf("ok: %s: %llu messages in %llu chunks\n", file.c_str(),
                  static_cast<unsigned long long>(inspection->messages),
                  static_cast<unsigned long long>(inspection->report.chunks_read));
    }
  }
  return ok ? kOk : kProblem;
}

void PrintMessage(const IngestRequest& request) {
  if (!FLAGS_json) {
    std::printf("%s\n", request.ShortDebugString().c_str());
    return;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;  // One object per line.
  if (google::protobuf::util::MessageToJsonString(request, &json, options).ok()) {
    std::printf("%s\n", json.c_str());
  }
}

int Dump(const std::vector<std::string>& files, bool ok) {
  for (const std::string& file : files) {
    absl::StatusOr<PbfsInspection> inspection =
        InspectPbfsFile(file, [](uint64_t, const IngestRequest& r) { PrintMessage(r); });
    if (!inspection.ok()) {
      ReportOpenError("dump", inspection.status());
      ok = false;
    } else if (!inspection->ok()) {
      std::fprintf(stderr, "pbfs dump: %s: %s\n", file.c_str(),
                   DescribeProblems(*inspection).c_str());
      ok = false;
    }
  }
  return ok ? kOk : kProblem;
}

absl::StatusOr<ProgressStyle> ChosenProgressStyle() {
  if (FLAGS_progress == "auto") {
    return isatty(STDERR_FILENO) ? ProgressStyle::kTerminal : ProgressStyle::kLines;
  }
  if (FLAGS_progress == "bar") return ProgressStyle::kTerminal;
  if (FLAGS_progress == "lines") return ProgressStyle::kLines;
  if (FLAGS_progress == "none") return ProgressStyle::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("--progress=", FLAGS_progress, " is not one of auto, bar, lines, none"));
}

// Files whose ".acked" marker says Sift has them (retained by a stream, or kept damaged
// after a salvage) are not sent again unless asked.
std::vector<std::string> SkipAcknowledged(const std::vector<std::string>& files) {
  std::vector<std::string> kept;
  for (const std::string& file : files) {
    struct stat st;
    if (!FLAGS_include_acked && stat(engine::AckMarkerPath(file).c_str(), &st) == 0) {
      std::fprintf(stderr,
                   "pbfs reingest: skipping %s: Sift acknowledged it already (%s); "
                   "--include_acked sends it again\n",
                   file.c_str(), engine::AckMarkerPath(file).c_str());
      continue;
    }
    kept.push_back(file);
  }
  return kept;
}

std::set<std::string> Directories(const std::vector<std::string>& files) {
  std::set<std::string> dirs;
  for (const std::string& file : files) {
    const size_t slash = file.find_last_of('/');
    dirs.insert(slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash));
  }
  return dirs;
}

absl::StatusOr<int> LockDirectory(const std::string& dir) {
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return absl::NotFoundError(absl::StrCat("cannot open directory ", dir));
  absl::StatusOr<int> lock = engine::LockBackupDir(dir_fd, dir);
  close(dir_fd);
  return lock;
}

int Reingest(const std::vector<std::string>& files, bool ok) {
  if (FLAGS_uri.empty()) return UsageError("reingest needs --uri=HOST:PORT");
  std::string api_key = FLAGS_api_key;
  if (api_key.empty() && std::getenv("SIFT_API_KEY") != nullptr) {
    api_key = std::getenv("SIFT_API_KEY");
  }
  if (api_key.empty()) return UsageError("reingest needs --api_key or $SIFT_API_KEY");
  absl::StatusOr<ProgressStyle> style = ChosenProgressStyle();
  if (!style.ok()) return UsageError(std::string(style.status().message()));
  if (!ok) {
    std::fprintf(stderr, "pbfs reingest: nothing sent: fix the paths above first\n");
    return kProblem;
  }
  std::vector<std::string> to_send = SkipAcknowledged(files);
  if (to_send.empty()) {
    std::fprintf(stderr, "pbfs reingest: nothing to send\n");
    return kOk;
  }
  // A live stream may be writing or recovering these files: hold its lock while we send.
  std::vector<int> locks;
  for (const std::string& dir : Directories(to_send)) {
    absl::StatusOr<int> lock = LockDirectory(dir);
    if (!lock.ok()) {
      std::fprintf(stderr, "pbfs reingest: %s\n", std::string(lock.status().message()).c_str());
      for (int fd : locks) close(fd);
      return kProblem;
    }
    locks.push_back(*lock);
  }
  engine::FileReingestOptions options;
  options.uri = FLAGS_uri;
  options.api_key = api_key;
  options.tls = FLAGS_tls;
  options.retain = FLAGS_retain;
  options.ack_timeout = absl::Milliseconds(FLAGS_ack_timeout_ms);
  options.retry.max_attempts = FLAGS_max_attempts;
  if (FLAGS_deadline_s > 0) options.deadline = absl::Seconds(FLAGS_deadline_s);
  const int result = RunReingest(to_send, options, *style, stdout, stderr);
  for (int fd : locks) close(fd);
  return result;
}

int Main(int argc, char** argv) {
  if (argc < 2) return UsageError("no command given");
  const std::string command = argv[1];
  using Handler = int (*)(const std::vector<std::string>&, bool);
  Handler handler = command == "inspect"    ? Inspect
                    : command == "verify"   ? Verify
                    : command == "dump"     ? Dump
                    : command == "reingest" ? Reingest
                                            : nullptr;
  if (handler == nullptr) {
    return UsageError(absl::StrCat("unknown command '", command,
                                   "' (expected inspect, verify, dump or reingest)"));
  }
  if (argc < 3) return UsageError(absl::StrCat(command, " needs at least one FILE or DIR"));
  bool ok = true;
  const std::vector<std::string> files = ExpandAll(command, argc, argv, &ok);
  return handler(files, ok);
}

}  // namespace
}  // namespace sift_stream::tools

int main(int argc, char** argv) {
  gflags::SetUsageMessage(sift_stream::tools::kUsageText);
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(sift_stream::tools::kUsageText, stdout);
      return 0;
    }
  }
  if (std::string unknown = sift_stream::tools::FindUnknownFlag(argc, argv); !unknown.empty()) {
    return sift_stream::tools::UsageError(absl::StrCat("unknown flag ", unknown));
  }
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  return sift_stream::tools::Main(argc, argv);
}
