// tools/kill_test.cc — kill -9 crash safety: a message that Flush() confirmed is never lost,
// whatever happens to the process.
//
// SiftStream promises (engine/sift_stream.h) that once Flush() returns OK, every message sent
// before it is either acknowledged by Sift or found by the next stream's start-up recovery.
// Unit tests check the pieces; only killing a real process at arbitrary moments checks the
// promise, because SIGKILL skips every destructor, every Finish() and every pending write.
//
// The harness:
//   1. starts the fake Sift server in this process (testing/fake_sift.h), with random stream
//      failures so that checkpoints fail and re-ingestion runs;
//   2. runs tools/bench over and over on ONE shared backup_dir, each run with its own
//      --start_us (so message keys never collide between runs), --flush_every=200 with a
//      --progress_file, 50 ms checkpoints and 512 KiB backup files (a rotation every ~15
//      flushes), and SIGKILLs it after a random delay — a few milliseconds (exec, set-up,
//      lock, the start of recovery), tens of milliseconds (recovering the leftovers of earlier
//      runs, first checkpoints) or up to ~1.2 s (writes, rotations, checkpoints, re-ingestion);
//   3. runs bench once more to completion, with faults off, which recovers every leftover and
//      must exit 0;
//   4. checks that for every run r, every message i below the count r's progress file held
//      after the kill is committed at the server, and that no backup file is left.
//
// Replay: the schedule (kill delays, the fault plan's seed) comes from KILL_TEST_SEED; the
// number of kills from KILL_TEST_KILLS (default 50: the `bazel test` version); the backup
// file size from KILL_TEST_MAX_FILE_BYTES (default 512 KiB). The seed
// replays the schedule, not the exact interleaving (the machine's timing still varies), so a
// failure found once is hunted with the same seed, repeatedly:
//
//   bazel test //tools:kill_test --test_env=KILL_TEST_SEED=42 --test_env=KILL_TEST_KILLS=500
//
// The last stdout line is one JSON object: seed, kills, confirmed, committed, lost (must be
// 0), duplicates, runs_flushed and more (see Summary::ToJson).

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "testing/fake_sift.h"
#include "tools/kill_test_runs.h"

namespace sift_stream {
namespace {

using testing::FakeSift;
using testing::FakeSiftOptions;
using testing::FaultPlan;
using testing::MessageKey;
using kill_test::BandName;
using kill_test::BenchRun;
using kill_test::BenchRunner;
using kill_test::CountBackupFiles;
using kill_test::DescribeStatus;
using kill_test::KilledByUs;
using kill_test::KillPlan;
using kill_test::LastLine;
using kill_test::ListDir;
using kill_test::NextKill;
using kill_test::LandingName;
using kill_test::ObservedLanding;
using kill_test::ReadFile;
using kill_test::ReadProgress;
using kill_test::Settings;
using kill_test::SettingsFromEnv;
using kill_test::WaitOrKill;
using kill_test::kFlushEvery;

// bench's ingestion config (tools/bench.cc: BenchConfig with the default 10 channels).
constexpr char kBenchClientKey[] = "sift-stream-bench-10";
constexpr char kBenchFlow[] = "bench";
constexpr int64_t kMessagesPerKilledRun = 100'000'000;  // Never reached: every run is killed.
constexpr int64_t kFinalMessages = 1000;
constexpr double kStreamFailureProbability = 0.3;
constexpr absl::Duration kFinalRunLimit = absl::Seconds(100);
constexpr int kMaxDeathsInARow = 3;

// ---------------------------------------------------------------------------------------------
// Checking what the server committed.

struct Summary {
  uint64_t seed = 0;
  int kills = 0;
  int64_t confirmed = 0;
  int64_t committed = 0;              // Confirmed and unconfirmed keys the server committed.
  int64_t lost = 0;      // Confirmed, not committed, not on disk either: must be 0.
  int64_t stranded = 0;  // Confirmed, not committed, still in a backup file: must be 0 too.
  int64_t unconfirmed_committed = 0;  // Sent after the last confirmed Flush, committed anyway.
  int64_t duplicates = 0;             // Keys that arrived more than once.
  int runs_flushed = 0;               // Runs whose Flush returned OK at least once.
  int runs_started_on_leftovers = 0;
  int max_leftover_files = 0;  // The most .pbfs files a run started on.
  int runs_died_by_themselves = 0;
  int kills_by_band[3] = {0, 0, 0};
  // Where the kills landed, observed (recovering and reingesting may both hold).
  int landed_set_up = 0;
  int landed_recovering = 0;
  int landed_reingesting = 0;
  int landed_after_rotation = 0;
  int kills_sync_never = 0;     // Of the kills, runs whose Flush confirmed the write only.
  int kills_retaining = 0;      // Runs that kept acknowledged files (with .acked markers).
  int64_t server_committed = 0;
  int64_t server_duplicate_arrivals = 0;
  int64_t server_streams_failed = 0;
  std::string final_run_json;
  double wall_s = 0;

  std::string ToJson() const {
    return absl::StrFormat(
        "{\"seed\":%d,\"kills\":%d,\"confirmed\":%d,\"committed\":%d,\"lost\":%d,"
        "\"stranded\":%d,\"unconfirmed_committed\":%d,\"duplicates\":%d,"
        "\"runs_flushed\":%d,\"runs_started_on_leftovers\":%d,\"max_leftover_files\":%d,"
        "\"runs_died_by_themselves\":%d,\"kills_set_up\":%d,\"kills_recovery\":%d,"
        "\"kills_streaming\":%d,\"landed_set_up\":%d,\"landed_recovering\":%d,"
        "\"landed_reingesting\":%d,\"landed_after_rotation\":%d,\"kills_sync_never\":%d,"
        "\"kills_retaining\":%d,\"server_committed\":%d,\"server_duplicate_arrivals\":%d,"
        "\"server_streams_failed\":%d,\"wall_s\":%.1f}",
        seed, kills, confirmed, committed, lost, stranded, unconfirmed_committed, duplicates,
        runs_flushed, runs_started_on_leftovers, max_leftover_files, runs_died_by_themselves,
        kills_by_band[0], kills_by_band[1], kills_by_band[2], landed_set_up,
        landed_recovering, landed_reingesting, landed_after_rotation, kills_sync_never,
        kills_retaining, server_committed, server_duplicate_arrivals, server_streams_failed,
        wall_s);
  }
};

// Confirmed messages [first, last] of one run that the server never committed; on_disk: they
// are still in a backup file (recovery did not deliver them) rather than gone.
struct LostRange {
  int64_t first;
  int64_t last;
  bool on_disk;
};

class KeyChecker {
 public:
  KeyChecker(const testing::IngestRecorder& recorder, std::string config_id)
      : recorder_(recorder), config_id_(std::move(config_id)) {}

  // bench's message i of a run: flow "bench", timestamp start + i µs, no run id.
  MessageKey Key(int64_t start_us, int64_t i) const {
    const int64_t t = start_us + i;
    MessageKey key;
    key.ingestion_config_id = config_id_;
    key.flow = kBenchFlow;
    key.timestamp_seconds = t / 1'000'000;
    key.timestamp_nanos = static_cast<int32_t>(t % 1'000'000) * 1000;
    key.run_id = "";
    return key;
  }

  // Adds `run`'s numbers to `summary`; returns the confirmed messages that were not
  // committed, as ranges. `on_disk`: timestamps (µs) still in backup files, which tell a
  // message recovery never delivered from one that is gone.
  std::vector<LostRange> Check(const BenchRun& run, const absl::flat_hash_set<int64_t>& on_disk,
                               Summary& summary) const {
    std::vector<LostRange> lost;
    summary.confirmed += run.confirmed;
    summary.runs_flushed += run.confirmed > 0 ? 1 : 0;
    // Past the confirmed count a run sent at most one more flush's worth (two if it died
    // between a Flush and rewriting its progress file).
    const int64_t end = run.confirmed + 2 * kFlushEvery;
    for (int64_t i = 0; i < end; ++i) {
      const MessageKey key = Key(run.start_us, i);
      const bool committed = recorder_.Committed(key);
      summary.duplicates += recorder_.ArrivalCount(key) > 1 ? 1 : 0;
      summary.committed += committed ? 1 : 0;
      if (i >= run.confirmed) {
        summary.unconfirmed_committed += committed ? 1 : 0;
        continue;
      }
      if (committed) continue;
      const bool stranded = on_disk.contains(run.start_us + i);
      ++(stranded ? summary.stranded : summary.lost);
      if (!lost.empty() && lost.back().last == i - 1 && lost.back().on_disk == stranded) {
        lost.back().last = i;
      } else {
        lost.push_back({i, i, stranded});
      }
    }
    return lost;
  }

 private:
  const testing::IngestRecorder& recorder_;
  const std::string config_id_;
};

// The config bench registered (by its client key) at the fake server.
absl::StatusOr<std::string> BenchConfigId(testing::Registry& registry) {
  sift::ingestion_configs::v2::ListIngestionConfigsRequest request;
  request.set_filter(absl::StrCat("client_key == \"", kBenchClientKey, "\""));
  auto configs = registry.ListIngestionConfigs(request);
  if (!configs.ok()) return configs.status();
  if (configs->ingestion_configs_size() != 1) {
    return absl::NotFoundError(absl::StrCat(configs->ingestion_configs_size(),
                                            " configs with client key ", kBenchClientKey));
  }
  return configs->ingestion_configs(0).ingestion_config_id();
}

// The message timestamps (µs) in the .pbfs files of `dir`, read the way recovery reads them.
absl::flat_hash_set<int64_t> TimestampsOnDisk(const std::string& dir) {
  absl::flat_hash_set<int64_t> timestamps;
  for (const std::string& entry : ListDir(dir)) {
    const std::string name = entry.substr(0, entry.rfind(':'));
    if (!absl::EndsWith(name, ".pbfs")) continue;
    auto reader = io::PbfsReader::OpenFile(dir + "/" + name, io::PbfsReadMode::kSalvage);
    if (!reader.ok()) continue;
    absl::string_view bytes;
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    while ((*reader)->Next(&bytes)) {
      if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
      timestamps.insert(request.timestamp().seconds() * 1'000'000 +
                        request.timestamp().nanos() / 1000);
    }
  }
  return timestamps;
}

// The first `max` items, joined by `separator`, and how many there were in all.
std::string Abbreviated(const std::vector<std::string>& items, size_t max,
                        absl::string_view separator = " ") {
  if (items.size() <= max) return absl::StrJoin(items, separator);
  std::vector<std::string> head(items.begin(), items.begin() + max);
  return absl::StrCat(absl::StrJoin(head, separator), " ... (", items.size(), " in all)");
}

// Everything needed to investigate a loss: when the run was killed, what it had confirmed,
// which messages are missing, the backup directory right after the kill, bench's stderr.
std::string LossReport(const BenchRun& run, const std::vector<LostRange>& lost) {
  std::vector<std::string> ranges;
  for (const LostRange& r : lost) {
    ranges.push_back(absl::StrCat(r.first, "-", r.last, r.on_disk ? " (still on disk)" : ""));
  }
  return absl::StrCat(
      "run ", run.index, " (start_us ", run.start_us, ", sync ", run.variant.sync_policy,
      run.variant.retain_backups ? ", retaining" : "", ", killed in ", BandName(run.kill.band),
      " after ", absl::FormatDuration(run.kill.delay), ", landed in ", LandingName(run.landed),
      ", ", DescribeStatus(run.wait_status),
      ", ", run.leftovers_at_start, " leftover files at start): confirmed ", run.confirmed,
      ", not committed: ", Abbreviated(ranges, 20, ", "),
      "\n  backup_dir after the kill: ", Abbreviated(run.dir_after, 40),
      "\n  bench stderr (", run.stderr_file, "):\n", ReadFile(run.stderr_file));
}

// ---------------------------------------------------------------------------------------------
// The test.

class KillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_ = SettingsFromEnv();
    std::printf(
        "kill_test: seed %llu, %d kills, %lld-byte backup files (KILL_TEST_SEED, "
        "KILL_TEST_KILLS, KILL_TEST_MAX_FILE_BYTES)\n",
        static_cast<unsigned long long>(settings_.seed), settings_.kills,
        static_cast<long long>(settings_.max_file_bytes));
    std::fflush(stdout);
    FakeSiftOptions options;
    options.api_keys = {kill_test::kApiKey};
    options.faults.seed = settings_.seed;
    options.faults.stream_failure_probability = kStreamFailureProbability;
    auto sift = FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(*sift);
    const std::string work_dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/kill_test");
    mkdir(work_dir.c_str(), 0700);
    runner_ = std::make_unique<BenchRunner>(
        absl::StrCat(std::getenv("TEST_SRCDIR"), "/sift_stream/tools/bench"),
        sift_->address(), work_dir, settings_.max_file_bytes);
  }

  // Starts run `index`, kills it as planned, and records what it left.
  BenchRun KillOneRun(int index, const KillPlan& plan) {
    BenchRun run = runner_->NewRun(index, /*variant=*/true);
    run.kill = plan;
    absl::StatusOr<pid_t> pid = runner_->Start(run, kMessagesPerKilledRun);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return run;
    run.wait_status = WaitOrKill(*pid, absl::Now() + plan.delay);
    run.confirmed = ReadProgress(run.progress_file);
    run.dir_after = ListDir(runner_->backup_dir());
    run.landed = ObservedLanding(ReadFile(run.stderr_file));
    // Anything but our SIGKILL is bench dying by itself (a crash, a failed Flush).
    run.died_by_itself = !KilledByUs(run.wait_status);
    EXPECT_FALSE(run.died_by_itself)
        << "run " << index << " ended by itself (" << DescribeStatus(run.wait_status)
        << ") before its kill at " << plan.delay << ":\n" << ReadFile(run.stderr_file);
    return run;
  }

  // The last run, not killed: recovers every leftover and must exit 0.
  BenchRun FinalRun(int index) {
    BenchRun run = runner_->NewRun(index, /*variant=*/false);
    absl::StatusOr<pid_t> pid = runner_->Start(run, kFinalMessages);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return run;
    run.wait_status = WaitOrKill(*pid, absl::Now() + kFinalRunLimit);
    run.confirmed = ReadProgress(run.progress_file);
    run.dir_after = ListDir(runner_->backup_dir());
    EXPECT_TRUE(WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) == 0)
        << "the final run (recovering every leftover) ended with "
        << DescribeStatus(run.wait_status) << ":\n" << ReadFile(run.stderr_file);
    EXPECT_EQ(run.confirmed, kFinalMessages);
    return run;
  }

  Settings settings_;
  std::unique_ptr<FakeSift> sift_;
  std::unique_ptr<BenchRunner> runner_;
};

TEST_F(KillTest, NoFlushConfirmedMessageIsLostWhenBenchIsKilledAtAnyMoment) {
  const absl::Time t0 = absl::Now();
  std::mt19937_64 rng(settings_.seed);
  Summary summary;
  summary.seed = settings_.seed;
  std::vector<BenchRun> runs;
  int died_in_a_row = 0;
  for (int k = 0; k < settings_.kills; ++k) {
    const KillPlan plan = NextKill(rng);
    runs.push_back(KillOneRun(k, plan));
    const BenchRun& run = runs.back();
    if (!run.died_by_itself) {
      ++summary.kills;
      ++summary.kills_by_band[static_cast<int>(plan.band)];
      summary.landed_set_up += run.landed.set_up ? 1 : 0;
      summary.landed_recovering += run.landed.recovering ? 1 : 0;
      summary.landed_reingesting += run.landed.reingesting ? 1 : 0;
      summary.landed_after_rotation += run.landed.rotated ? 1 : 0;
      summary.kills_sync_never += run.variant.sync_policy == "never" ? 1 : 0;
      summary.kills_retaining += run.variant.retain_backups ? 1 : 0;
    }
    summary.runs_started_on_leftovers += run.leftovers_at_start > 0 ? 1 : 0;
    summary.max_leftover_files = std::max(summary.max_leftover_files, run.leftovers_at_start);
    summary.runs_died_by_themselves += run.died_by_itself ? 1 : 0;
    died_in_a_row = run.died_by_itself ? died_in_a_row + 1 : 0;
    if (died_in_a_row == kMaxDeathsInARow) {
      // The directory is in a state no stream starts on: more runs would only say it again.
      ADD_FAILURE() << "stopping after " << kMaxDeathsInARow << " runs in a row died by "
                    << "themselves, " << run.leftovers_at_start << " backup files in the "
                    << "directory";
      break;
    }
  }
  // Recovery must finish, so the last run streams without faults; the kills had them.
  sift_->SetFaults(FaultPlan{});
  runs.push_back(FinalRun(static_cast<int>(runs.size())));
  summary.final_run_json = LastLine(ReadFile(runs.back().stdout_file));

  absl::StatusOr<std::string> config_id = BenchConfigId(sift_->registry());
  ASSERT_TRUE(config_id.ok()) << config_id.status();
  KeyChecker checker(sift_->recorder(), *config_id);
  const absl::flat_hash_set<int64_t> on_disk = TimestampsOnDisk(runner_->backup_dir());
  for (const BenchRun& run : runs) {
    const std::vector<LostRange> lost = checker.Check(run, on_disk, summary);
    EXPECT_TRUE(lost.empty()) << "Flush-confirmed messages not committed:\n"
                              << LossReport(run, lost);
  }
  const std::vector<std::string> left = ListDir(runner_->backup_dir());
  EXPECT_EQ(CountBackupFiles(left), 0) << "backup files not recovered: " << Abbreviated(left, 40);

  const testing::FakeSiftStats stats = sift_->Stats();
  summary.server_committed = stats.ingest.committed_messages;
  summary.server_duplicate_arrivals = stats.ingest.duplicate_messages;
  summary.server_streams_failed = stats.ingest.streams_failed;
  summary.wall_s = absl::ToDoubleSeconds(absl::Now() - t0);
  EXPECT_EQ(summary.lost, 0);
  EXPECT_EQ(summary.stranded, 0);
  // Every committed key is one of ours: the window past each confirmed count saw them all.
  EXPECT_EQ(summary.committed, summary.server_committed);
  std::printf("kill_test: final run: %s\n", summary.final_run_json.c_str());
  std::printf("%s\n", summary.ToJson().c_str());
}

}  // namespace
}  // namespace sift_stream
