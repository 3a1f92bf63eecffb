// tools/pbfs_inspect.h — what `pbfs inspect`, `verify` and `dump` know about a backup file.
//
// A backup file is only opened by a person when something went wrong, so the questions are
// "what is in it" (messages, time range, flows, configs) and "how does it end" (clean, torn
// tail, corrupt, and where). One salvage read (io/pbfs_reader.h, kSalvage) answers both: every
// intact message is parsed as a sift.ingest.v1.IngestWithConfigDataStreamRequest, and the
// reader's report says what was skipped. The tool never writes to the files it reads.
//
// One heuristic is added to the reader's verdict: a non-empty file in which no intact chunk
// was found, and whose first bytes cannot start a chunk (fewer than 12 bytes, or a header
// claiming more than 1 GiB of frames) is "not a PBFS file" and counts as corrupt at offset 0.
// The reader alone would call such a file a torn tail (a header cut short, or one claiming
// more than the file holds), which would tell the user to truncate it.
//
// Paths: a command-line argument that names a directory stands for every regular file in it
// whose name ends in ".pbfs" (not recursive), sorted by name — the order the engine writes
// them in.
//
// Thread-safety: functions only; no shared state.

#ifndef SIFT_STREAM_TOOLS_PBFS_INSPECT_H_
#define SIFT_STREAM_TOOLS_PBFS_INSPECT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "io/pbfs_reader.h"
#include "proto/sift/ingest/v1/ingest.pb.h"

namespace sift_stream::tools {

using IngestRequest = sift::ingest::v1::IngestWithConfigDataStreamRequest;

// The files one command-line argument stands for (see the file comment). Errors, each naming
// the path: NotFound (no such path), FailedPrecondition (a directory without .pbfs files, or
// neither a regular file nor a directory), or what stat/opendir said.
absl::StatusOr<std::vector<std::string>> ExpandPbfsPath(const std::string& path);

struct PbfsInspection {
  std::string path;
  io::PbfsReadReport report;
  // An I/O error during the read (not damage to the data; that is in `report`).
  absl::Status read_error;
  // See the file comment; when true, `report.end` has been set to kCorrupt.
  bool not_pbfs = false;
  uint64_t messages = 0;  // Intact messages, parsed or not.
  uint64_t unparseable = 0;
  uint64_t first_unparseable = 0;  // Index (from 0) among the intact messages.
  // Earliest and latest timestamp of the parsed messages; unset if none had one.
  std::optional<absl::Time> earliest;
  std::optional<absl::Time> latest;
  std::map<std::string, uint64_t> flows;       // Flow name → messages.
  std::map<std::string, uint64_t> config_ids;  // ingestion_config_id → messages.

  // Clean end, no I/O error, every message parsed: what `pbfs verify` accepts.
  bool ok() const {
    return report.end == io::PbfsEnd::kClean && read_error.ok() && unparseable == 0;
  }
};

// Called for each intact message that parses, with its index among the intact messages.
using MessageVisitor = std::function<void(uint64_t index, const IngestRequest& request)>;

// Reads the file at `path` once, in salvage mode. Errors only if it cannot be opened (as
// io::PbfsReader::OpenFile); everything about its contents is in the result.
absl::StatusOr<PbfsInspection> InspectPbfsFile(const std::string& path,
                                               const MessageVisitor& visit = nullptr);

// "clean", "torn tail", "corrupt" or "not a PBFS file", then where and what, e.g.
// "corrupt at offset 4096: chunk at offset 4096 ...: CRC mismatch ...; 2040 bytes skipped in
// 1 region, 0 tail bytes unread". For one-line messages.
std::string DescribeEnd(const PbfsInspection& inspection);

// The problems `verify` reports for the file, joined by "; "; empty if ok().
std::string DescribeProblems(const PbfsInspection& inspection);

// The multi-line, human-readable report of `pbfs inspect` (ends with a newline).
std::string FormatInspection(const PbfsInspection& inspection);

// RFC 3339 in UTC with as many fractional digits as needed, e.g. "2024-05-01T12:00:00.5Z".
std::string FormatTimestamp(absl::Time time);

}  // namespace sift_stream::tools

#endif  // SIFT_STREAM_TOOLS_PBFS_INSPECT_H_
