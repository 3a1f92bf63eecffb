// stream — replays a CSV file (or stdin) into Sift through a SiftStream, live with backups.
//
//   stream --uri=H:P --api_key=K [--tls] --config=F --run_name=NAME [--backup_dir=D]
//          [--flow=NAME] [--time_column=time] [--time_unit=s|ms|us|ns] [--on_error=stop|skip]
//          data.csv|-
//
// The config file (stream_config.proto, JSON or text format) names the asset, client key and
// flows; the CSV header maps columns to channels (tools/stream/row_mapper.h); each row becomes
// one message per flow it has values for, stamped with its time column. Backups go to a fresh
// temporary directory unless --backup_dir is given, so a replay never loses rows Sift did not
// confirm: Finish() names the files that hold them, and `pbfs reingest` sends them later.
//
// Output: progress on stderr (a bar on a terminal, plain lines otherwise), bad rows on stderr
// as "line N: why", and a summary on stdout. Exit status: 0 only if Finish() was OK and (with
// --on_error=stop) no row was bad; 1 for a bad row, a stream error or an unconfirmed Finish;
// 2 for usage errors (flags, config file, header). See docs/stream_tool.md.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/sift_stream.h"
#include "gflags/gflags.h"
#include "tools/stream/config_file.h"
#include "tools/stream/csv_reader.h"
#include "tools/stream/progress.h"
#include "tools/stream/row_mapper.h"

DEFINE_string(uri, "", "Sift gRPC address, host:port");
DEFINE_string(api_key, "", "Sift API key");
DEFINE_bool(tls, false, "use TLS (real Sift needs it; loopback test servers do not)");
DEFINE_string(config, "", "ingestion config file: StreamConfig as JSON or text format");
DEFINE_string(run_name, "", "name of the new run the rows belong to (empty: no run)");
DEFINE_string(backup_dir, "", "backup directory; empty: a new temporary directory");
DEFINE_string(flow, "", "flow of the plain channel columns; empty: the config's only flow");
DEFINE_string(time_column, "time", "name of the time column");
DEFINE_string(time_unit, "", "unit of numeric times: s, ms, us or ns (RFC 3339 needs none)");
DEFINE_string(on_error, "stop", "a bad row: stop (exit 1) or skip (count it, go on)");
DEFINE_int32(progress_interval_s, 10, "seconds between progress lines when not on a terminal; "
             "0: none");
DEFINE_int32(finish_timeout_s, 120, "how long Finish may wait for Sift's acknowledgements");

namespace sift_stream::tools {
namespace {

constexpr size_t kReasonsShown = 5;
std::atomic<bool> g_interrupted{false};

struct Tally {
  uint64_t rows_read = 0;
  uint64_t rows_sent = 0;
  uint64_t rows_without_values = 0;
  uint64_t messages_sent = 0;
  uint64_t rows_bad = 0;
  std::vector<std::string> reasons;  // The first kReasonsShown bad rows.
  bool stopped = false;              // By a bad row (stop), a stream error or SIGINT.
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "stream: %s\n", message.c_str());
  return 2;
}

// Send, waiting while the engine pushes back (its queue or the backup disk is full).
absl::Status SendWaiting(SiftStream& stream, const RowMessage& message, absl::Time time) {
  absl::Duration wait = absl::Microseconds(50);
  bool said = false;
  for (absl::Time start = absl::Now();; wait = std::min(wait * 2, absl::Milliseconds(20))) {
    absl::Status sent = stream.Send(*message.flow, time, message.values);
    if (!absl::IsResourceExhausted(sent) || g_interrupted) return sent;
    if (!said && absl::Now() - start > absl::Seconds(2)) {
      std::fprintf(stderr, "stream: waiting: %s\n", std::string(sent.message()).c_str());
      said = true;
    }
    absl::SleepFor(wait);
  }
}

// A bad row: counted, said, and (with stop) the end of the replay.
void BadRow(const std::string& reason, ProgressReporter& progress, Tally* tally) {
  ++tally->rows_bad;
  if (tally->reasons.size() < kReasonsShown) tally->reasons.push_back(reason);
  if (FLAGS_on_error == "stop") {
    progress.Done();
    std::fprintf(stderr, "stream: %s (stopping: --on_error=stop)\n", reason.c_str());
    tally->stopped = true;
  }
}

// Streams every data row; returns a non-OK status only for a stream error.
absl::Status Replay(CsvReader& reader, const RowMapper& mapper, SiftStream& stream,
                    ProgressReporter& progress, Tally* tally) {
  CsvRecord record;
  std::vector<RowMessage> messages;
  absl::Time time;
  while (!tally->stopped && !g_interrupted) {
    absl::StatusOr<bool> more = reader.Next(&record);
    if (more.ok() && !*more) break;
    ++tally->rows_read;
    absl::Status mapped = more.ok() ? mapper.Map(record.cells, &time, &messages) : more.status();
    if (!mapped.ok()) {
      BadRow(more.ok() ? absl::StrCat("line ", record.line, ": ", mapped.message())
                       : std::string(mapped.message()), progress, tally);
      continue;
    }
    bool sent_whole = true;
    for (const RowMessage& message : messages) {
      absl::Status sent = SendWaiting(stream, message, time);
      if (absl::IsInvalidArgument(sent)) {  // E.g. larger than the stream's message limit.
        BadRow(absl::StrCat("line ", record.line, ": ", sent.message()), progress, tally);
        sent_whole = false;
        break;
      }
      if (!sent.ok()) return sent;
      ++tally->messages_sent;
    }
    if (messages.empty()) ++tally->rows_without_values;
    else if (sent_whole) ++tally->rows_sent;
    progress.Update(tally->rows_read, reader.bytes_read());
  }
  return absl::OkStatus();
}

void PrintSummary(const Tally& tally, absl::Duration elapsed, const absl::Status& finish) {
  std::printf("rows read: %lu\nrows sent: %lu\nmessages sent: %lu\nrows skipped: %lu\n",
              tally.rows_read, tally.rows_sent, tally.messages_sent,
              FLAGS_on_error == "skip" ? tally.rows_bad : 0);
  if (tally.rows_without_values > 0) {
    std::printf("rows without values: %lu\n", tally.rows_without_values);
  }
  if (tally.rows_bad > 0) std::printf("bad rows: %lu\n", tally.rows_bad);
  for (const std::string& reason : tally.reasons) std::printf("  %s\n", reason.c_str());
  if (tally.rows_bad > tally.reasons.size()) {
    std::printf("  ... and %lu more\n", tally.rows_bad - tally.reasons.size());
  }
  std::printf("elapsed: %.3f s\nfinish: %s\n", absl::ToDoubleSeconds(elapsed),
              finish.ok() ? "OK (Sift acknowledged every message)" : finish.ToString().c_str());
}

IngestionConfigSpec ToSpec(const StreamConfig& file) {
  IngestionConfigSpec spec;
  spec.asset_name = file.asset_name();
  spec.client_key = file.client_key();
  spec.organization_id = file.organization_id();
  spec.flows.assign(file.flows().begin(), file.flows().end());
  return spec;
}

absl::StatusOr<std::string> MakeBackupDir() {
  if (!FLAGS_backup_dir.empty()) return FLAGS_backup_dir;
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/sift-stream-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a backup directory like ", pattern));
  }
  return pattern;
}

absl::StatusOr<std::unique_ptr<SiftStream>> BuildStream(const IngestionConfigSpec& config,
                                                        const std::string& backup_dir) {
  RunSpec run;
  if (!FLAGS_run_name.empty()) {
    run.kind = RunSpec::Kind::kNew;
    run.name = FLAGS_run_name;
  }
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir;
  return SiftStreamBuilder()
      .Uri(FLAGS_uri)
      .ApiKey(FLAGS_api_key)
      .Tls(FLAGS_tls)
      .IngestionConfig(config)
      .Run(run)
      .Backups(backups)
      .Build();
}

int Stream(const std::string& input) {
  absl::StatusOr<TimeUnit> unit = ParseTimeUnit(FLAGS_time_unit);
  if (!unit.ok()) return Usage(std::string(unit.status().message()));
  absl::StatusOr<StreamConfig> file_config = LoadStreamConfig(FLAGS_config);
  if (!file_config.ok()) return Usage(std::string(file_config.status().message()));
  const IngestionConfigSpec config = ToSpec(*file_config);
  std::ifstream file;
  if (input != "-") file.open(input, std::ios::binary);
  if (input != "-" && !file) return Usage(absl::StrCat("cannot read ", input));
  std::istream& in = input == "-" ? std::cin : file;
  std::error_code error;
  const uint64_t size = input != "-" && std::filesystem::is_regular_file(input, error)
                            ? std::filesystem::file_size(input, error) : 0;
  CsvReader reader(in);
  CsvRecord header;
  absl::StatusOr<bool> has_header = reader.Next(&header);
  if (!has_header.ok()) return Usage(std::string(has_header.status().message()));
  if (!*has_header) return Usage(absl::StrCat(input, " is empty (no header row)"));
  absl::StatusOr<RowMapper> mapper = RowMapper::Create(
      config.flows, header.cells, {FLAGS_time_column, FLAGS_flow, *unit});
  if (!mapper.ok()) return Usage(absl::StrCat("header: ", mapper.status().message()));

  absl::StatusOr<std::string> backup_dir = MakeBackupDir();
  if (!backup_dir.ok()) return Usage(std::string(backup_dir.status().message()));
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<SiftStream>> stream = BuildStream(config, *backup_dir);
  if (!stream.ok()) {
    std::fprintf(stderr, "stream: cannot start: %s\n", stream.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "stream: %s -> ingestion config %s%s%s, backups in %s\n",
               input == "-" ? "stdin" : input.c_str(), (*stream)->ingestion_config_id().c_str(),
               (*stream)->run_id().empty() ? "" : ", run ", (*stream)->run_id().c_str(),
               backup_dir->c_str());
  for (const std::string& line : mapper->Describe()) std::fprintf(stderr, "stream: %s\n", line.c_str());

  ProgressReporter progress(stderr, isatty(STDERR_FILENO), size,
                            FLAGS_progress_interval_s > 0 ? absl::Seconds(FLAGS_progress_interval_s)
                                                          : absl::InfiniteDuration());
  Tally tally;
  absl::Status replayed = Replay(reader, *mapper, **stream, progress, &tally);
  progress.Done();
  if (!replayed.ok()) std::fprintf(stderr, "stream: stopped: %s\n", replayed.ToString().c_str());
  if (g_interrupted) std::fprintf(stderr, "stream: interrupted; finishing what was sent\n");
  const absl::Status finish = (*stream)->Finish(absl::Seconds(FLAGS_finish_timeout_s));
  PrintSummary(tally, absl::Now() - start, finish);
  stream->reset();
  if (finish.ok() && FLAGS_backup_dir.empty()) {
    std::filesystem::remove_all(*backup_dir, error);  // Ours, and nothing unconfirmed is left.
  } else if (!finish.ok()) {
    std::printf("unconfirmed rows are kept in %s; send them with: pbfs reingest --uri=%s "
                "--api_key=... %s%s\n", backup_dir->c_str(), FLAGS_uri.c_str(),
                FLAGS_tls ? "--tls " : "", backup_dir->c_str());
  }
  const bool clean = replayed.ok() && !g_interrupted && (FLAGS_on_error == "skip" || tally.rows_bad == 0);
  return finish.ok() && clean ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream::tools

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "stream --uri=H:P --api_key=K [--tls] --config=F --run_name=NAME [--backup_dir=D] "
      "data.csv|-\nReplays a CSV file (or stdin, '-') into Sift. See docs/stream_tool.md.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  using sift_stream::tools::Usage;
  if (argc != 2) return Usage("give one input: a CSV file, or - for stdin (see --help)");
  if (FLAGS_uri.empty() || FLAGS_config.empty()) return Usage("--uri and --config are required");
  if (FLAGS_on_error != "stop" && FLAGS_on_error != "skip") {
    return Usage("--on_error must be stop or skip");
  }
  signal(SIGINT, [](int) { sift_stream::tools::g_interrupted = true; });
  signal(SIGPIPE, SIG_IGN);
  return sift_stream::tools::Stream(argv[1]);
}
