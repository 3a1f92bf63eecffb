// demo — streams a simulated vehicle to Sift through a fault, and proves nothing was lost.
//
//   tools/setup.sh && bazel run -c opt //tools:demo
//
// Starts the fake Sift server in this process (testing/fake_sift.h), then streams the vehicle
// of tools/demo_vehicle.h — IMU, wheels, GPS, battery and status flows at different rates,
// --rate messages a second in all — for --duration through a SiftStream with a one-second
// checkpoint and backups in a temporary directory. A quarter of the way in, the server refuses
// every new stream for --outage (the data waits on disk); at 70 % it restarts, cutting every
// connection (--restart_down). At the end it calls Finish() and asks the server, message key
// by message key, what it committed: the summary says what was lost (nothing, or the exit
// status is 1) and what was sent twice.
//
// With --uri (and --api_key, --tls) it streams to a real Sift instead: no faults are injected,
// and "committed" is the client's own count (acknowledged + re-ingested), since only the fake
// server can check keys; Finish() returning OK is then the proof.
//
// Output contract (tools/demo_test.sh and docs/getting_started.md rely on it; stdout only,
// errors go to stderr):
//   demo: Sift <host:port> (<in-process fake ...|real Sift ...>)
//   demo: backups in <dir> (checkpoint every <d>)
//   demo: asset <name>, ingestion config <id>, run <id>
//   demo: flow <name> <rate> msg/s <channel types>              (one line per flow)
//   demo: streaming <rate> msg/s for <duration>
//   demo: metrics at http://<addr>/metrics and http://<addr>/status  (unless --metrics_port=-1)
//   [  t.ts] sent N | acked N | on disk ~N msgs / N files | re-ingested N | N msg/s |
//            checkpoints N ok / N failed[ | OUTAGE| RESTART| FINISH]   (one line each)
//   summary
//     <label>   <value>         (sent, committed (unique), lost, duplicates, faults injected,
//                                checkpoints, acknowledged live, re-ingested, Send() pushed
//                                back, throughput, finish)
//   result: PASS - ... | result: FAIL - ...
//   demo: backup files kept in <dir> ...                         (on FAIL only)
// "faults injected" appears with the fake server only, once a fault began. Numbers are
// grouped with commas. On a terminal the status line is redrawn in place (carriage return)
// four times a second; otherwise one line is printed every --status_interval. The library's
// glog lines go to stderr (--v=1 adds one per checkpoint). Exit status: 0 on PASS, 1 on FAIL
// or a failed start, 2 for bad flags.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/sift_stream.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tools/demo_sift.h"
#include "tools/demo_status.h"
#include "tools/demo_vehicle.h"

DEFINE_string(uri, "", "a real Sift's gRPC address, host:port; empty: the in-process fake");
DEFINE_string(api_key, "", "API key (with --uri)");
DEFINE_bool(tls, false, "use TLS (real Sift needs it)");
DEFINE_double(rate, 50000, "messages per second, all flows together");
DEFINE_string(duration, "20s", "how long to stream, e.g. 20s, 2m");
DEFINE_string(outage, "4s", "server outage a quarter of the way in; 0 turns it off");
DEFINE_string(restart_down, "1s", "server restart at 70% of the way, down this long; 0: none");
DEFINE_string(checkpoint_interval, "1s", "how often Sift is asked to acknowledge");
DEFINE_string(backup_dir, "", "backup directory; empty: a new temporary one, removed on PASS");
DEFINE_string(status_interval, "2s", "time between status lines when stdout is no terminal");
DEFINE_string(finish_timeout, "60s", "how long Finish() may take");
DEFINE_string(asset, "demo-rover", "the asset the vehicle streams as");
DEFINE_int32(metrics_port, 0,
             "serve /metrics and /status on 127.0.0.1:PORT; 0 picks a free port, -1: off");

namespace sift_stream::demo {
namespace {

constexpr char kFakeApiKey[] = "demo-key";
std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

struct Options {
  absl::Duration duration, outage, restart_down, checkpoint_interval, status_interval,
      finish_timeout;
};

bool ParseDurationFlag(const char* name, const std::string& text, absl::Duration* out) {
  if (absl::ParseDuration(text, out) && *out >= absl::ZeroDuration()) return true;
  std::fprintf(stderr, "demo: --%s=%s is not a duration like 4s, 500ms or 2m\n", name,
               text.c_str());
  return false;
}

bool ParseFlags(Options* o) {
  if (!(FLAGS_rate > 0)) {
    std::fprintf(stderr, "demo: --rate must be positive\n");
    return false;
  }
  return ParseDurationFlag("duration", FLAGS_duration, &o->duration) &&
         ParseDurationFlag("outage", FLAGS_outage, &o->outage) &&
         ParseDurationFlag("restart_down", FLAGS_restart_down, &o->restart_down) &&
         ParseDurationFlag("checkpoint_interval", FLAGS_checkpoint_interval,
                           &o->checkpoint_interval) &&
         ParseDurationFlag("status_interval", FLAGS_status_interval, &o->status_interval) &&
         ParseDurationFlag("finish_timeout", FLAGS_finish_timeout, &o->finish_timeout);
}

// The backup directory: --backup_dir, or a new one under $TMPDIR (`*created` says so).
absl::StatusOr<std::string> BackupDir(bool* created) {
  *created = false;
  if (!FLAGS_backup_dir.empty()) return FLAGS_backup_dir;
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/sift_demo.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a directory like ", pattern));
  }
  *created = true;
  return pattern;
}

absl::StatusOr<std::unique_ptr<SiftStream>> BuildStream(const std::string& uri,
                                                         const std::string& api_key,
                                                         const std::string& backup_dir,
                                                         const Options& o) {
  RunSpec run;
  run.kind = RunSpec::Kind::kNew;
  run.name = absl::StrCat("sift_stream demo ", absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                                                absl::Now(), absl::LocalTimeZone()));
  run.description = "tools/demo: a simulated vehicle streamed through an outage and a restart";
  run.tags = {"sift_stream-demo"};
  DiskBackupPolicy backups;
  backups.backup_dir = backup_dir;
  // Faster retries than the default (up to 5 s) so that the recovery after each fault shows
  // within the demo's seconds rather than after them.
  RetryPolicy retry;
  retry.max_backoff = absl::Seconds(1);
  SiftStreamBuilder builder;
  if (FLAGS_metrics_port >= 0) {
    builder.ServeMetrics(absl::StrCat("127.0.0.1:", FLAGS_metrics_port));
  }
  return builder
      .Uri(uri)
      .ApiKey(api_key)
      .Tls(FLAGS_tls)
      .IngestionConfig(Vehicle::Config(FLAGS_asset, "sift-stream-demo-vehicle-v1"))
      .Run(run)
      .Backups(backups)
      .CheckpointInterval(o.checkpoint_interval)
      .LiveRetry(retry)
      .ReingestRetry(retry)
      // A quarter second of buffering at the default rate: the producer never waits on a
      // hiccup of the backup writer.
      .DataCapacity(std::max<size_t>(10240, static_cast<size_t>(FLAGS_rate / 4)))
      .Build();
}

void PrintBanner(const SiftStream& stream, const Vehicle& vehicle, const std::string& backup_dir,
                 const Options& o) {
  std::printf("demo: backups in %s (checkpoint every %s)\n", backup_dir.c_str(),
              absl::FormatDuration(o.checkpoint_interval).c_str());
  std::printf("demo: asset %s, ingestion config %s, run %s\n", FLAGS_asset.c_str(),
              stream.ingestion_config_id().c_str(), stream.run_id().c_str());
  for (const FlowSchedule& flow : vehicle.flows()) {
    std::printf("demo: flow %-8s %9s msg/s  %s\n", flow.name.c_str(),
                Grouped(static_cast<uint64_t>(flow.rate_hz + 0.5)).c_str(),
                flow.channel_types.c_str());
  }
  std::printf("demo: streaming %s msg/s for %s\n",
              Grouped(static_cast<uint64_t>(FLAGS_rate)).c_str(),
              absl::FormatDuration(o.duration).c_str());
  if (const std::string& address = stream.metrics_address(); !address.empty()) {
    std::printf("demo: metrics at http://%s/metrics and http://%s/status\n", address.c_str(),
                address.c_str());
  }
  std::fflush(stdout);
}

// Sends every message due by `now` (and before `end`). ResourceExhausted: the backup path is
// full for the moment; the refused message stays next.
absl::Status SendDue(SiftStream& stream, Vehicle& vehicle, absl::Time now, absl::Time end,
                     std::vector<ChannelValue>* values) {
  absl::Time timestamp;
  while (vehicle.NextTime() <= now && vehicle.NextTime() < end) {
    const std::string& flow = vehicle.Next(&timestamp, values);
    if (absl::Status s = stream.Send(flow, timestamp, *values); !s.ok()) return s;
    vehicle.Advance();
  }
  return absl::OkStatus();
}

// Streams the vehicle in real time until `end` or Ctrl-C. Messages fall due continuously;
// they are sent in bursts of about a millisecond's worth, which keeps the sleeps cheap.
absl::Status Drive(SiftStream& stream, Vehicle& vehicle, absl::Time end) {
  std::vector<ChannelValue> values;
  while (!g_interrupted.load()) {
    const absl::Time now = absl::Now();
    if (now >= end) return absl::OkStatus();
    absl::Status s = SendDue(stream, vehicle, now, end, &values);
    if (absl::IsResourceExhausted(s)) {
      absl::SleepFor(absl::Microseconds(200));
      continue;
    }
    if (!s.ok()) return s;
    absl::SleepFor(std::clamp(vehicle.NextTime() - absl::Now(), absl::Milliseconds(1),
                              absl::Milliseconds(50)));
  }
  return absl::OkStatus();
}

std::string FaultsText(const FaultSchedule& plan, const ServerAccount& account) {
  std::string text;
  if (account.outage_began) {
    text = absl::StrCat("outage of ", absl::FormatDuration(plan.outage_for), " (",
                        Grouped(account.streams_refused), " streams refused)");
  }
  if (account.restarts > 0) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", account.restarts, " restart (down ",
                    absl::FormatDuration(plan.restart_down), ")");
  }
  return text;
}

void PrintSiftLine(const std::string& uri, const DemoSift* sift, const FaultSchedule& plan) {
  if (sift != nullptr) {
    std::printf("demo: Sift %s (in-process fake; outage at %s for %s, restart at %s for %s)\n",
                uri.c_str(), absl::FormatDuration(plan.outage_at).c_str(),
                absl::FormatDuration(plan.outage_for).c_str(),
                absl::FormatDuration(plan.restart_at).c_str(),
                absl::FormatDuration(plan.restart_down).c_str());
  } else {
    std::printf("demo: Sift %s (real Sift: no faults injected; \"committed\" is the client's "
                "count)\n", uri.c_str());
  }
  std::fflush(stdout);  // Before any error on stderr, when both go to one pipe.
}

// Streams for the run's duration with the status line on and the faults scheduled, then
// finishes the stream. Fills the summary's timing, metrics and Finish() result.
Summary StreamAndFinish(SiftStream& stream, Vehicle& vehicle, DemoSift* sift,
                        const FaultSchedule& plan, const std::string& backup_dir,
                        const Options& o) {
  std::atomic<bool> finishing{false};
  StatusPrinter printer(stdout, isatty(STDOUT_FILENO), o.status_interval,
                        [&](StatusSample* sample) {
                          sample->metrics = stream.Metrics();
                          sample->disk = ScanBackupDir(backup_dir);
                          sample->marker = finishing.load() ? "FINISH"
                                           : sift != nullptr ? sift->Marker()
                                                             : "";
                        });
  if (sift != nullptr) sift->RunFaults(plan);
  const absl::Time start = absl::Now();
  const absl::Status driven = Drive(stream, vehicle, start + o.duration);
  if (g_interrupted.load()) {
    std::fprintf(stderr, "\ndemo: interrupted: finishing what was sent\n");
  }
  Summary summary;
  summary.send_time = absl::Now() - start;
  finishing.store(true);
  const absl::Time finish_start = absl::Now();
  const absl::Status finished = stream.Finish(o.finish_timeout);
  summary.finish_time = absl::Now() - finish_start;
  printer.Stop();
  if (sift != nullptr) sift->StopFaults();
  summary.metrics = stream.Metrics();
  summary.sent = vehicle.sent();
  summary.finish_ok = finished.ok() && driven.ok();
  summary.finish_result = !driven.ok()   ? absl::StrCat("Send failed: ", driven.ToString())
                          : finished.ok() ? "OK"
                                          : finished.ToString();
  return summary;
}

// What was committed: asked key by key at the fake server; from a real Sift only the client's
// own count is known (everything, once Finish said OK).
void CountCommitted(const SiftStream& stream, const Vehicle& vehicle, const DemoSift* sift,
                    const FaultSchedule& plan, Summary* summary) {
  summary->checked_at_server = sift != nullptr;
  if (sift == nullptr) {
    const SiftStreamMetrics& m = summary->metrics;
    summary->committed =
        summary->finish_ok
            ? summary->sent
            : std::min<uint64_t>(summary->sent, m.messages_acknowledged + m.messages_reingested);
    return;
  }
  const ServerAccount account =
      sift->Account(vehicle, stream.ingestion_config_id(), stream.run_id());
  summary->committed = account.committed;
  summary->duplicates = account.duplicates;
  summary->committed_duplicates = account.committed_duplicates;
  summary->faults = FaultsText(plan, account);
}

int Run(const Options& o) {
  std::unique_ptr<DemoSift> sift;
  if (FLAGS_uri.empty()) {
    absl::StatusOr<std::unique_ptr<DemoSift>> started = DemoSift::Start(kFakeApiKey);
    if (!started.ok()) {
      std::fprintf(stderr, "demo: the fake Sift did not start: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    sift = std::move(*started);
  }
  const std::string uri = sift ? sift->address() : FLAGS_uri;
  const FaultSchedule plan =
      sift ? PlanFaults(o.duration, o.outage, o.restart_down) : FaultSchedule{};
  PrintSiftLine(uri, sift.get(), plan);

  bool created_dir = false;
  absl::StatusOr<std::string> backup_dir = BackupDir(&created_dir);
  if (!backup_dir.ok()) {
    std::fprintf(stderr, "demo: %s\n", backup_dir.status().ToString().c_str());
    return 1;
  }
  std::error_code ignored;
  absl::StatusOr<std::unique_ptr<SiftStream>> stream =
      BuildStream(uri, sift ? kFakeApiKey : FLAGS_api_key, *backup_dir, o);
  if (!stream.ok()) {
    std::fprintf(stderr, "demo: the stream did not start: %s\n",
                 stream.status().ToString().c_str());
    if (created_dir) std::filesystem::remove_all(*backup_dir, ignored);
    return 1;
  }

  Vehicle vehicle(FLAGS_rate, absl::Now());
  PrintBanner(**stream, vehicle, *backup_dir, o);
  Summary summary = StreamAndFinish(**stream, vehicle, sift.get(), plan, *backup_dir, o);
  CountCommitted(**stream, vehicle, sift.get(), plan, &summary);
  PrintSummary(stdout, summary);
  stream->reset();  // Releases the backup directory's lock before it is removed.
  if (!summary.passed()) {
    std::printf("demo: backup files kept in %s (tools/pbfs can inspect and re-ingest them)\n",
                backup_dir->c_str());
  } else if (created_dir) {
    std::filesystem::remove_all(*backup_dir, ignored);
  }
  return summary.passed() ? 0 : 1;
}

}  // namespace
}  // namespace sift_stream::demo

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Stream a simulated vehicle to Sift through an outage and a restart; prove nothing was "
      "lost.\n  bazel run -c opt //tools:demo [-- --rate=N --duration=20s --outage=4s]");
  // The library's log lines (a checkpoint not acknowledged, ...) are part of the show: to
  // stderr rather than glog's files, unless the command line says otherwise.
  gflags::SetCommandLineOptionWithMode("logtostderr", "true", gflags::SET_FLAGS_DEFAULT);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  sift_stream::demo::Options options;
  if (!sift_stream::demo::ParseFlags(&options)) return 2;
  signal(SIGINT, sift_stream::demo::OnInterrupt);
  return sift_stream::demo::Run(options);
}
