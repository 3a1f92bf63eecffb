// tools/kill_test_runs.h — how kill_test starts, kills and reads back one run of tools/bench:
// the kill schedule, the run's variant (sync policy, retained backups), what its files say
// afterwards, and where in its life the kill actually landed.
//
// "Where it landed" is read, not assumed: every run prints a progress line every 5 ms
// (bench --progress_interval_ms), and the last one before the kill tells whether the run was
// still setting up (no line yet), recovering leftovers, re-ingesting its own failed
// checkpoints (both may hold at once), or only streaming. The kill schedule aims at those
// phases by time; what the summary reports is where the kills landed.

#ifndef SIFT_STREAM_TOOLS_KILL_TEST_RUNS_H_
#define SIFT_STREAM_TOOLS_KILL_TEST_RUNS_H_

#include <sys/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sift_stream::kill_test {

inline constexpr char kApiKey[] = "kill-test-key";
inline constexpr int64_t kFirstStartUs = 1'700'000'000'000'000;
// 1000 s of timestamps per run: no run can send 10^9 messages before its kill.
inline constexpr int64_t kRunSpacingUs = 1'000'000'000;
inline constexpr int64_t kFlushEvery = 200;

// KILL_TEST_SEED, KILL_TEST_KILLS and KILL_TEST_MAX_FILE_BYTES, or the defaults.
struct Settings {
  uint64_t seed = 20251125;
  int kills = 50;
  // Small backup files, so that runs rotate every ~3,000 messages (30 ms) and die in the
  // middle of rotations.
  int64_t max_file_bytes = 512 << 10;
};
Settings SettingsFromEnv();

// Where in a run's life a kill is aimed. Runs take ~10-40 ms to exec, lock the directory and
// make the set-up calls, then recover leftovers alongside the first sends; the bands follow.
enum class Band { kSetUp, kRecovery, kStreaming };
const char* BandName(Band band);

struct KillPlan {
  Band band;
  absl::Duration delay;
};
KillPlan NextKill(std::mt19937_64& rng);

// Where a run was when it died, from its last progress line (see the file comment).
struct Landing {
  bool set_up = true;        // No progress line yet: Build() had not returned.
  bool recovering = false;   // Leftover files found at start not all acknowledged yet.
  // Own live streams had failed and re-ingestion jobs were pending (recovery jobs count in
  // the same gauge, so this may also hold for a run busy recovering).
  bool reingesting = false;
  bool rotated = false;      // The run had rotated backup files at least once.
};
Landing ObservedLanding(absl::string_view bench_stderr);
// "set_up", "recovering+reingesting", "streaming", ... for reports.
std::string LandingName(const Landing& landing);

// What a run varies beyond its schedule: the sync policy cycles through all four (under
// "never" a Flush confirms the write only, which a SIGKILL cannot undo), and every fifth run
// retains its backups (acknowledged files stay, with .acked markers recovery must skip).
struct Variant {
  std::string sync_policy;
  bool retain_backups = false;
};
Variant VariantOf(int run_index);

struct BenchRun {
  int index = 0;
  int64_t start_us = 0;
  Variant variant;
  std::string progress_file;
  std::string stdout_file;
  std::string stderr_file;
  KillPlan kill{Band::kStreaming, absl::ZeroDuration()};
  int leftovers_at_start = 0;   // Unacknowledged .pbfs files in backup_dir at the start.
  int wait_status = 0;
  bool died_by_itself = false;  // Not by our SIGKILL: a crash or an error exit.
  int64_t confirmed = 0;        // From the progress file, read after the process is gone.
  std::vector<std::string> dir_after;  // backup_dir once the process is gone.
  Landing landed;                      // Where the kill landed.
};

// Starts bench runs on one shared backup directory under `work_dir`.
class BenchRunner {
 public:
  BenchRunner(std::string bench, std::string uri, std::string work_dir, int64_t max_file_bytes);

  const std::string& backup_dir() const { return backup_dir_; }

  // Run `index`'s start time, files and variant; `variant` false: the defaults (final run).
  BenchRun NewRun(int index, bool variant) const;
  // Starts bench for `run`, its stdout and stderr going to the run's files.
  absl::StatusOr<pid_t> Start(BenchRun& run, int64_t messages) const;

 private:
  const std::string bench_;
  const std::string uri_;
  const std::string work_dir_;
  const std::string backup_dir_;
  const int64_t max_file_bytes_;
};

// Waits for `pid` until `deadline`; SIGKILLs it then if it is still there. Returns the wait
// status. Polls, so that a run that dies early by itself (a crash) is seen as such.
int WaitOrKill(pid_t pid, absl::Time deadline);
bool KilledByUs(int status);
std::string DescribeStatus(int status);

std::string ReadFile(const std::string& path);
// The count in a run's progress file; a missing file means Flush never confirmed anything.
int64_t ReadProgress(const std::string& path);
// "name:size" for every entry of `dir` but "." and "..", sorted.
std::vector<std::string> ListDir(const std::string& dir);
// .pbfs files in a ListDir listing that have no .acked marker beside them: what recovery
// still has to send.
int CountBackupFiles(const std::vector<std::string>& listing);
std::string LastLine(const std::string& text);

}  // namespace sift_stream::kill_test

#endif  // SIFT_STREAM_TOOLS_KILL_TEST_RUNS_H_
