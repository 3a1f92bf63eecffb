// Start-up recovery and the directory lock end to end: files a dead process left are sent and
// deleted (torn ones give up what is intact, damaged or foreign ones are kept and reported),
// a second process on the directory is refused until it dies, and a relative backup_dir
// survives a chdir. Flush and the sync policies: durability_test.cc.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

class RecoveryTest : public SiftStreamTest {
 protected:
  // What a process that never reached Sift leaves behind, as after a crash: messages
  // [0, count) in the backup files of a backups-only stream (in one file if `one_file`).
  void LeaveFilesBehind(int count, bool one_file = false) {
    DiskBackupPolicy backups;
    backups.backup_dir = backup_dir_;
    if (one_file) backups.max_file_size_bytes = 64 << 20;
    auto earlier = Builder().Backups(backups).Mode(StreamMode::kBackupsOnly).Build();
    ASSERT_TRUE(earlier.ok()) << earlier.status();
    SendRange(**earlier, 0, count);
    ASSERT_TRUE((*earlier)->Finish(absl::Seconds(10)).ok());
  }

  // The path of a .pbfs file in backup_dir (the only one, where the test left one file).
  std::string ABackupFile() const {
    std::string path;
    DIR* d = opendir(backup_dir_.c_str());
    while (dirent* e = d != nullptr ? readdir(d) : nullptr) {
      if (absl::EndsWith(e->d_name, ".pbfs")) path = absl::StrCat(backup_dir_, "/", e->d_name);
    }
    if (d != nullptr) closedir(d);
    return path;
  }
};

TEST_F(RecoveryTest, SecondLiveStreamOnTheSameDirectoryIsRefusedNamingTheHolder) {
  auto first = Builder().Build();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Builder().Build();
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), absl::StrCat("pid ", getpid())))
      << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), backup_dir_)) << second.status();
  ASSERT_TRUE((*first)->Finish(absl::Seconds(10)).ok());
  first->reset();
  // The lock goes with the stream: the directory is free again.
  auto third = Builder().Build();
  ASSERT_TRUE(third.ok()) << third.status();
  struct stat st;
  ASSERT_EQ(stat((backup_dir_ + "/sift_stream.lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Takes the directory's lock in a child process, as another live stream would, and returns
// the child's pid once it holds the lock. Only system calls after fork(): the test process has
// gRPC threads, and one of them may hold malloc's lock at the moment of the fork.
pid_t HoldLockInAChildProcess(const std::string& dir) {
  const std::string lock_path = dir + "/sift_stream.lock";
  int ready[2];
  if (pipe(ready) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(1);
    char digits[16];
    int n = 0;
    for (pid_t p = getpid(); p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
    char pid_line[17];
    for (int i = 0; i < n; ++i) pid_line[i] = digits[n - 1 - i];
    pid_line[n] = '\n';
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid_line, n + 1, 0) != n + 1) _exit(1);
    if (write(ready[1], "L", 1) != 1) _exit(1);
    for (;;) pause();  // Holds the lock until it is killed.
  }
  close(ready[1]);
  char byte = 0;
  const bool locked = child > 0 && read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  return locked ? child : -1;
}

TEST_F(RecoveryTest, LockOfAnotherProcessRefusesTheStreamAndItsDeathFreesTheFilesItLeft) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(3000));
  const int leftovers = CountFiles(backup_dir_);
  ASSERT_GT(leftovers, 0);

  const pid_t holder = HoldLockInAChildProcess(backup_dir_);
  ASSERT_GT(holder, 0) << "the child could not take the lock";
  auto refused = Builder().Build();
  ASSERT_FALSE(refused.ok()) << "a second live process on one backup_dir must be refused";
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), absl::StrCat("pid ", holder)))
      << refused.status();
  EXPECT_EQ(CountFiles(backup_dir_), leftovers) << "a refused stream must not touch the files";

  // SIGKILL runs no clean-up: only the kernel releases the dead process's flock.
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(holder, &wait_status, 0), holder);
  ASSERT_TRUE(WIFSIGNALED(wait_status));

  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << "a dead process's lock blocked the start: " << stream.status();
  const absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ((*stream)->Metrics().messages_recovered, 3000u);
  ExpectNothingLost(3000);
  EXPECT_EQ(CountFiles(backup_dir_), 0);
}

TEST_F(RecoveryTest, LockIsCheckedBeforeAnyCallToSift) {
  const pid_t holder = HoldLockInAChildProcess(backup_dir_);
  ASSERT_GT(holder, 0) << "the child could not take the lock";
  // Nothing listens on port 1: had Build called Sift first, it would report an outage after
  // its retries instead of the busy directory.
  const absl::Time start = absl::Now();
  auto refused = Builder().Uri("127.0.0.1:1").Build();
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), absl::StrCat("pid ", holder)))
      << refused.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "Build tried Sift before the directory";
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 0);
}

// A relative backup_dir means the directory it named at Build: a later chdir() (daemons do
// one) must not put backup files, durability or recovery anywhere else.
TEST_F(RecoveryTest, RelativeBackupDirStaysWhereItWasAfterAChdir) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  absl::Cleanup restore_cwd = [&cwd] { (void)!chdir(cwd); };  // Whatever fails below.
  const std::string parent = backup_dir_ + "/..";
  ASSERT_EQ(chdir(parent.c_str()), 0);
  const std::string relative = absl::StrCat("relative_backups_", getpid(), "_", rand());
  const std::string absolute = backup_dir_ + "/../" + relative;
  ASSERT_EQ(mkdir(relative.c_str(), 0700), 0) << strerror(errno);
  DiskBackupPolicy backups;
  backups.backup_dir = relative;
  auto stream = Builder().Backups(backups).Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_EQ(chdir(backup_dir_.c_str()), 0);  // Elsewhere, and writable: a wrong path would work.
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 0, 3000);
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  ASSERT_TRUE(flushed.ok()) << flushed;
  EXPECT_EQ(MessagesOnDisk(absolute), 3000);
  EXPECT_EQ(CountFiles(backup_dir_ + "/" + relative), 0) << "files followed the chdir";
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  stream->reset();
  // Recovery from the relative name, after yet another chdir, finds and deletes them all.
  ASSERT_EQ(chdir(parent.c_str()), 0);
  auto recovering = Builder().Backups(backups).Build();
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(recovering.ok()) << recovering.status();
  EXPECT_TRUE((*recovering)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(3000);
  EXPECT_EQ(CountFiles(absolute), 0);
}

TEST_F(RecoveryTest, LeftoverFilesAreRecoveredAtStartAndDeleted) {
  // A stream that could not reach Sift: everything stays on disk, as after a crash.
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(4000));
  const int leftovers = CountFiles(backup_dir_);
  ASSERT_GT(leftovers, 0);
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendRange(**stream, 4000, 5000);
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;  // Finish waited for recovery too.
  ExpectNothingLost(5000);
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.recovery_files_found, static_cast<uint64_t>(leftovers));
  EXPECT_EQ(m.backup_files_recovered, static_cast<uint64_t>(leftovers));
  EXPECT_EQ(m.messages_recovered, 4000u);
  EXPECT_EQ(CountFiles(backup_dir_), 0);
}

TEST_F(RecoveryTest, ThousandsOfLeftoverFilesAreAllRecovered) {
  // More leftover files than the control bus holds messages (1,024 by default): recovery
  // must hand them over a few at a time, not all at start.
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(1));
  const std::string first = ABackupFile();
  ASSERT_FALSE(first.empty());
  std::string bytes;
  {
    std::ifstream in(first, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The same message under 1,100 stream ids: Sift counts one key, recovery 1,100 files.
  constexpr int kFiles = 1100;
  for (int i = 1; i < kFiles; ++i) {
    std::ofstream(absl::StrCat(backup_dir_, "/copy", i, "-000001-0001.pbfs"), std::ios::binary)
        << bytes;
  }
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::Status finished = (*stream)->Finish(absl::Seconds(120));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ((*stream)->Metrics().backup_files_recovered, static_cast<uint64_t>(kFiles));
  EXPECT_EQ(CountFiles(backup_dir_), 0);
  ExpectNothingLost(1);
}

TEST_F(RecoveryTest, RecoveryHonoursTheReingestRateLimit) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(3000));
  auto stream = Builder().ReingestRateLimit(3000).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  const absl::Time start = absl::Now();
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(800)) << "3,000 messages at 3,000/s";
  ExpectNothingLost(3000);
  EXPECT_FALSE(Builder().ReingestRateLimit(-1).Build().ok());
}

TEST_F(RecoveryTest, RetainedRecoveredFilesAreMarkedAndNotSentAgain) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(1000));
  const int leftovers = CountFiles(backup_dir_);
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(absl::StrCat("run ", run));
    DiskBackupPolicy backups;
    backups.backup_dir = backup_dir_;
    backups.retain_backups = true;
    auto stream = Builder().Backups(backups).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
    EXPECT_EQ((*stream)->Metrics().recovery_files_found, run == 0 ? leftovers : 0u);
  }
  ExpectNothingLost(1000);
  EXPECT_EQ(sift_->Stats().ingest.duplicate_messages, 0);
  EXPECT_EQ(CountFiles(backup_dir_), leftovers);
}

// Damage a crash does not explain — a flipped bit, or another file under a .pbfs name — is
// kept for a human, and Finish says so: the intact messages went to Sift, the rest could not.
TEST_F(RecoveryTest, DamagedAndForeignLeftoversGiveUpWhatIsIntactAreKeptAndFinishSaysSo) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(20000, /*one_file=*/true));
  ASSERT_EQ(CountFiles(backup_dir_), 1);
  const std::string flipped = ABackupFile();
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff middle = f.tellg() / 2;
    f.seekg(middle);
    char byte = 0;
    f.get(byte);
    f.seekp(middle);
    f.put(static_cast<char>(byte ^ 0x10));
  }
  const std::string foreign = backup_dir_ + "/notes.pbfs";
  const std::string text = "timestamp,value\n1,2\n3,4\n";
  std::ofstream(foreign) << text;
  const int64_t intact = MessagesOnDisk(backup_dir_);
  ASSERT_GT(intact, 0);
  ASSERT_LT(intact, 20000);

  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(30));
  EXPECT_TRUE(absl::IsDataLoss(report.status)) << report.status;
  EXPECT_TRUE(absl::StrContains(report.status.message(), flipped)) << report.status;
  EXPECT_TRUE(absl::StrContains(report.status.message(), foreign)) << report.status;
  EXPECT_EQ(report.damaged_files.size(), 2u);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, intact);
  EXPECT_EQ((*stream)->Metrics().messages_recovered, static_cast<uint64_t>(intact));
  // Both kept: the flipped file for `pbfs inspect`, the foreign one untouched.
  EXPECT_TRUE(Exists(flipped));
  std::ifstream in(foreign);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()),
            text);
  // Marked as done: the next stream neither sends the intact messages again nor complains.
  stream->reset();
  auto next = Builder().Build();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)->Finish(absl::Seconds(30)).ok());
  EXPECT_EQ((*next)->Metrics().recovery_files_found, 0u);
}

TEST_F(RecoveryTest, TornLeftoverFileGivesUpItsIntactMessagesAndIsDeleted) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(20000, /*one_file=*/true));
  const std::string file = ABackupFile();
  ASSERT_FALSE(file.empty());
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  ASSERT_EQ(truncate(file.c_str(), st.st_size - 100), 0);  // A crash mid-write.
  const int64_t intact = MessagesOnDisk(backup_dir_);
  ASSERT_LT(intact, 20000);
  ASSERT_GT(intact, 0);

  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, intact);
  EXPECT_EQ((*stream)->Metrics().messages_recovered, static_cast<uint64_t>(intact));
  EXPECT_FALSE(Exists(file));
}

TEST_F(RecoveryTest, RecoveryThatSiftRefusesKeepsTheFilesAndFinishNamesThem) {
  ASSERT_NO_FATAL_FAILURE(LeaveFilesBehind(500));
  const int leftovers = CountFiles(backup_dir_);
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  sift_->RefuseStreamsFor(absl::Seconds(30));
  absl::Status finished = (*stream)->Finish(absl::Seconds(2));
  EXPECT_FALSE(finished.ok());
  EXPECT_TRUE(absl::StrContains(finished.message(), ".pbfs")) << finished;
  EXPECT_EQ(CountFiles(backup_dir_), leftovers);
}

}  // namespace
}  // namespace sift_stream
