// fake_sift_server — the fake Sift of testing/fake_sift.h as a program, for tests written in
// any language.
//
// Contract (scripts rely on it): the first line on stdout is the bound port, alone; the file
// given by --stats_file is rewritten atomically (write, rename) every --stats_interval_ms and
// at exit with the stats as one JSON object. SIGINT/SIGTERM shut down gracefully and exit 0.
//
//   port=$(bazel-bin/testing/fake_sift_server --port=0 --stats_file=/tmp/s.json | head -1)
//
// Faults are flags; see --help. Times are in milliseconds.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gflags/gflags.h"
#include "testing/fake_sift.h"

DEFINE_string(host, "127.0.0.1", "address to listen on (loopback by default)");
DEFINE_int32(port, 0, "port to listen on; 0 picks a free one (printed as the first line)");
DEFINE_string(stats_file, "", "keep this file updated with the stats as JSON");
DEFINE_int32(stats_interval_ms, 200, "how often --stats_file is rewritten");
DEFINE_string(api_keys, "", "comma-separated accepted API keys; empty accepts any");
DEFINE_bool(sink, false, "count ingest messages and bytes without parsing (benchmarks)");
DEFINE_int64(duration_ms, 0, "exit after this long; 0 runs until SIGINT/SIGTERM");
DEFINE_uint64(seed, 1, "seed of the random faults (--stream_failure_probability)");
DEFINE_int64(end_stream_nth, 0, "end the Nth stream early (0: never)");
DEFINE_bool(end_stream_every, false, "end every Nth stream, not only the Nth");
DEFINE_int64(end_stream_after, 0, "messages an ended stream reads first");
DEFINE_string(end_stream_code, "UNAVAILABLE", "status the ended stream gets");
DEFINE_int64(fail_at_end_nth, 0, "the Nth stream fails after the client half-closes");
DEFINE_bool(fail_at_end_every, false, "every Nth stream fails at its end");
DEFINE_string(fail_at_end_code, "INTERNAL", "status a stream failing at its end gets");
DEFINE_int64(hang_at_end_nth, 0, "the Nth stream hangs after the client half-closes");
DEFINE_bool(hang_at_end_every, false, "every Nth stream hangs at its end");
DEFINE_int64(hang_at_end_ms, 0, "how long a hanging stream waits before answering OK");
DEFINE_int64(slow_reader_every, 0, "sleep after every M messages of each stream");
DEFINE_int64(slow_reader_sleep_ms, 0, "how long the slow reader sleeps");
DEFINE_double(stream_failure_probability, 0, "each stream fails at random with this chance");
DEFINE_int64(outage_after_ms, -1, "start an outage (streams refused) this long after start");
DEFINE_int64(outage_for_ms, 0, "how long the outage lasts");
DEFINE_int64(restart_after_ms, -1, "restart the server (connections cut) this long after start");
DEFINE_int64(restart_down_ms, 0, "how long the server stays down during the restart");
DEFINE_int64(fail_unary_count, 0, "the next N unary set-up calls fail");
DEFINE_string(fail_unary_code, "UNAVAILABLE", "status the failing unary calls get");
DEFINE_string(reject_all_code, "OK", "refuse every call with this status (OK: off)");
DEFINE_string(refused_flow, "", "end any stream at a message of this flow (empty: off)");
DEFINE_string(refused_flow_code, "INTERNAL", "status of a stream ended at a refused flow");

namespace sift_stream::testing {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

absl::StatusOr<FaultPlan> PlanFromFlags() {
  FaultPlan plan;
  plan.seed = FLAGS_seed;
  plan.end_stream = {FLAGS_end_stream_nth, FLAGS_end_stream_every};
  plan.end_stream_after_messages = FLAGS_end_stream_after;
  plan.fail_at_end = {FLAGS_fail_at_end_nth, FLAGS_fail_at_end_every};
  plan.hang_at_end = {FLAGS_hang_at_end_nth, FLAGS_hang_at_end_every};
  plan.hang_at_end_for = absl::Milliseconds(FLAGS_hang_at_end_ms);
  plan.slow_reader_every = FLAGS_slow_reader_every;
  plan.slow_reader_sleep = absl::Milliseconds(FLAGS_slow_reader_sleep_ms);
  plan.stream_failure_probability = FLAGS_stream_failure_probability;
  plan.fail_unary_count = FLAGS_fail_unary_count;
  plan.refused_flow = FLAGS_refused_flow;
  for (auto [flag, code] : {std::pair{&FLAGS_end_stream_code, &plan.end_stream_code},
                            std::pair{&FLAGS_fail_at_end_code, &plan.fail_at_end_code},
                            std::pair{&FLAGS_fail_unary_code, &plan.fail_unary_code},
                            std::pair{&FLAGS_reject_all_code, &plan.reject_all_code},
                            std::pair{&FLAGS_refused_flow_code, &plan.refused_flow_code}}) {
    absl::StatusOr<grpc::StatusCode> parsed = ParseStatusCode(*flag);
    if (!parsed.ok()) return parsed.status();
    *code = *parsed;
  }
  return plan;
}

// Write-then-rename, so a reader never sees half a file.
void WriteStats(const FakeSift& sift) {
  if (FLAGS_stats_file.empty()) return;
  const std::string temp = FLAGS_stats_file + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << sift.Stats().ToJson() << "\n";
    if (!out) return;
  }
  std::rename(temp.c_str(), FLAGS_stats_file.c_str());
}

// The outage and restart flags are timed from start; one thread plays them.
std::thread ScheduleServerFaults(FakeSift& sift, absl::Time start) {
  return std::thread([&sift, start] {
    if (FLAGS_outage_after_ms >= 0) {
      while (!g_stop && absl::Now() < start + absl::Milliseconds(FLAGS_outage_after_ms)) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (!g_stop) sift.RefuseStreamsFor(absl::Milliseconds(FLAGS_outage_for_ms));
    }
    if (FLAGS_restart_after_ms >= 0) {
      while (!g_stop && absl::Now() < start + absl::Milliseconds(FLAGS_restart_after_ms)) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (g_stop) return;
      absl::Status restarted = sift.Restart(absl::Milliseconds(FLAGS_restart_down_ms));
      if (!restarted.ok()) {
        std::fprintf(stderr, "fake_sift_server: restart failed: %s\n",
                     std::string(restarted.message()).c_str());
        g_stop = true;
      }
    }
  });
}

int Run() {
  absl::StatusOr<FaultPlan> plan = PlanFromFlags();
  if (!plan.ok()) {
    std::fprintf(stderr, "fake_sift_server: %s\n", std::string(plan.status().message()).c_str());
    return 2;
  }
  FakeSiftOptions options;
  options.host = FLAGS_host;
  options.port = FLAGS_port;
  options.sink = FLAGS_sink;
  options.faults = *plan;
  for (absl::string_view key : absl::StrSplit(FLAGS_api_keys, ',', absl::SkipEmpty())) {
    options.api_keys.emplace_back(key);
  }
  absl::StatusOr<std::unique_ptr<FakeSift>> sift = FakeSift::Start(options);
  if (!sift.ok()) {
    std::fprintf(stderr, "fake_sift_server: %s\n", std::string(sift.status().message()).c_str());
    return 1;
  }
  // Before the port goes out: whoever reads it may stop us at once, and must get the stats.
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  std::printf("%d\n", (*sift)->port());
  std::fflush(stdout);
  std::fprintf(stderr, "fake_sift_server: listening on %s%s\n", (*sift)->address().c_str(),
               FLAGS_sink ? " (sink mode)" : "");
  const absl::Time start = absl::Now();
  std::thread scheduled = ScheduleServerFaults(**sift, start);
  while (!g_stop) {
    WriteStats(**sift);
    if (FLAGS_duration_ms > 0 && absl::Now() - start >= absl::Milliseconds(FLAGS_duration_ms)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(FLAGS_stats_interval_ms));
  }
  g_stop = true;
  scheduled.join();
  (*sift)->Shutdown();
  WriteStats(**sift);
  std::fprintf(stderr, "fake_sift_server: %s\n", (*sift)->Stats().ToJson().c_str());
  return 0;
}

}  // namespace
}  // namespace sift_stream::testing

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "A fake Sift server with fault injection. Prints its port as the first stdout line.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return sift_stream::testing::Run();
}
