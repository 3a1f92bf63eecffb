#include "tools/kill_test_runs.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

extern char** environ;

namespace sift_stream::kill_test {
namespace {

template <typename T>
T EnvOr(const char* name, T fallback) {
  const char* text = std::getenv(name);
  T value;
  if (text == nullptr || !absl::SimpleAtoi(text, &value)) return fallback;
  return value;
}

// The number after "\"name\":" in a JSON line (0 if absent): bench's progress lines are flat.
int64_t NumberField(absl::string_view line, absl::string_view name) {
  const std::string key = absl::StrCat("\"", name, "\":");
  const size_t at = line.find(key);
  if (at == absl::string_view::npos) return 0;
  absl::string_view rest = line.substr(at + key.size());
  rest = rest.substr(0, rest.find_first_of(",}"));
  int64_t value = 0;
  return absl::SimpleAtoi(rest, &value) ? value : 0;
}

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& out,
                            const std::string& err) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(absl::StrCat("posix_spawn ", args[0], ": ", rc));
  return pid;
}

}  // namespace

Settings SettingsFromEnv() {
  const Settings defaults;
  Settings s;
  s.seed = EnvOr<uint64_t>("KILL_TEST_SEED", defaults.seed);
  s.kills = EnvOr<int>("KILL_TEST_KILLS", defaults.kills);
  s.max_file_bytes = EnvOr<int64_t>("KILL_TEST_MAX_FILE_BYTES", defaults.max_file_bytes);
  return s;
}

const char* BandName(Band band) {
  switch (band) {
    case Band::kSetUp: return "set_up";
    case Band::kRecovery: return "recovery";
    case Band::kStreaming: return "streaming";
  }
  return "?";
}

KillPlan NextKill(std::mt19937_64& rng) {
  const double pick = std::uniform_real_distribution<double>(0, 1)(rng);
  auto uniform_ms = [&](double lo, double hi) {
    return absl::Microseconds(std::uniform_real_distribution<double>(lo, hi)(rng) * 1000);
  };
  if (pick < 0.15) return {Band::kSetUp, uniform_ms(0, 20)};
  if (pick < 0.40) return {Band::kRecovery, uniform_ms(20, 150)};
  return {Band::kStreaming, uniform_ms(150, 1200)};
}

Landing ObservedLanding(absl::string_view bench_stderr) {
  Landing landing;
  const size_t at = bench_stderr.rfind("{\"progress\":");
  if (at == absl::string_view::npos) return landing;
  absl::string_view line = bench_stderr.substr(at);
  line = line.substr(0, line.find('\n'));
  landing.set_up = false;
  landing.recovering =
      NumberField(line, "recovery_files_found") > NumberField(line, "recovery_files_recovered");
  landing.reingesting = NumberField(line, "live_streams_failed") > 0 &&
                        NumberField(line, "reingest_jobs_pending") > 0;
  landing.rotated = NumberField(line, "backup_rotations") > 0;
  return landing;
}

std::string LandingName(const Landing& landing) {
  if (landing.set_up) return "set_up";
  std::string name;
  if (landing.recovering) name = "recovering";
  if (landing.reingesting) absl::StrAppend(&name, name.empty() ? "" : "+", "reingesting");
  return name.empty() ? "streaming" : name;
}

Variant VariantOf(int run_index) {
  static const char* const kPolicies[] = {"on_flush", "never", "interval:20", "bytes:65536"};
  Variant variant;
  variant.sync_policy = kPolicies[run_index % 4];
  variant.retain_backups = run_index % 5 == 4;
  return variant;
}

BenchRunner::BenchRunner(std::string bench, std::string uri, std::string work_dir,
                         int64_t max_file_bytes)
    : bench_(std::move(bench)),
      uri_(std::move(uri)),
      work_dir_(std::move(work_dir)),
      backup_dir_(work_dir_ + "/backups"),
      max_file_bytes_(max_file_bytes) {
  mkdir(backup_dir_.c_str(), 0700);
}

BenchRun BenchRunner::NewRun(int index, bool variant) const {
  BenchRun run;
  run.index = index;
  run.start_us = kFirstStartUs + index * kRunSpacingUs;
  run.variant = variant ? VariantOf(index) : Variant{"on_flush", false};
  const std::string base = absl::StrFormat("%s/run%04d", work_dir_, index);
  run.progress_file = base + ".progress";
  run.stdout_file = base + ".out";
  run.stderr_file = base + ".err";
  return run;
}

absl::StatusOr<pid_t> BenchRunner::Start(BenchRun& run, int64_t messages) const {
  run.leftovers_at_start = CountBackupFiles(ListDir(backup_dir_));
  std::vector<std::string> args = {
      bench_,
      "--uri=" + uri_,
      absl::StrCat("--api_key=", kApiKey),
      "--backup_dir=" + backup_dir_,
      absl::StrCat("--messages=", messages),
      absl::StrCat("--start_us=", run.start_us),
      absl::StrCat("--flush_every=", kFlushEvery),
      "--progress_file=" + run.progress_file,
      "--checkpoint_interval_ms=50",
      absl::StrCat("--max_file_bytes=", max_file_bytes_),
      "--finish_timeout_ms=60000",
      "--sync_policy=" + run.variant.sync_policy,
      "--progress_interval_ms=5",
  };
  if (run.variant.retain_backups) args.push_back("--retain_backups");
  return Spawn(args, run.stdout_file, run.stderr_file);
}

int WaitOrKill(pid_t pid, absl::Time deadline) {
  int status = 0;
  while (absl::Now() < deadline) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    absl::SleepFor(std::min(absl::Microseconds(500), deadline - absl::Now()));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

bool KilledByUs(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("status ", status);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int64_t ReadProgress(const std::string& path) {
  int64_t count = 0;
  std::string text = ReadFile(path);
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &count)) return 0;
  return count;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> entries;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return entries;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    const int64_t size = stat(absl::StrCat(dir, "/", name).c_str(), &st) == 0 ? st.st_size : -1;
    entries.push_back(absl::StrCat(name, ":", size));
  }
  closedir(d);
  std::sort(entries.begin(), entries.end());
  return entries;
}

int CountBackupFiles(const std::vector<std::string>& listing) {
  std::set<std::string> acked;
  for (const std::string& entry : listing) {
    const std::string name = entry.substr(0, entry.rfind(':'));
    if (absl::EndsWith(name, ".pbfs.acked")) acked.insert(name.substr(0, name.size() - 6));
  }
  int n = 0;
  for (const std::string& entry : listing) {
    const std::string name = entry.substr(0, entry.rfind(':'));
    n += absl::EndsWith(name, ".pbfs") && acked.count(name) == 0 ? 1 : 0;
  }
  return n;
}

std::string LastLine(const std::string& text) {
  const std::string trimmed(absl::StripTrailingAsciiWhitespace(text));
  const size_t newline = trimmed.rfind('\n');
  return newline == std::string::npos ? trimmed : trimmed.substr(newline + 1);
}

}  // namespace sift_stream::kill_test
