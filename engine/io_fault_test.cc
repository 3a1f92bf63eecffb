// Disk faults driven through the whole engine: SiftStream against the in-process fake Sift,
// real io_uring, real backup files, and io/fault_injection.h making chosen backup operations
// fail (ENOSPC, EIO, EROFS) or come up short; plus a real full disk (a tiny tmpfs). What
// Flush confirms under faults, and failed deletes: io_fault_flush_test.cc.
//
// Every test checks the two promises a failing disk must not break:
//   - nothing accepted is silently lost: each message Send() accepted is committed at the
//     server or readable from a backup file — or Finish() says DataLoss;
//   - the failure is reported clearly: Send() names the file and the error and says what to
//     do; Finish() never claims more than it can prove.

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "io/fault_injection.h"
#include "engine/io_fault_test_fixture.h"
#include "io/pbfs_reader.h"
#include "testing/fake_sift.h"

namespace sift_stream {

// Why this process has no private mount namespace (see main); empty if it has one.
std::string private_mounts_error;

namespace {

using io::FaultOp;
using io::FaultOutcome;
using io::ScopedFaultPlan;
using io_fault_test::BackupFiles;
using io_fault_test::DiskContents;
using io_fault_test::IoFaultTest;
using io_fault_test::kMaxMessages;
using io_fault_test::ReadBackups;
using io_fault_test::TimestampOf;

TEST_F(IoFaultTest, EnospcOnABackupWriteIsRetriedAndLosesNothing) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int enospc = plan.Add({.op = FaultOp::kWrite,
                               .nth = 3,
                               .error = ENOSPC,
                               .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  ASSERT_TRUE(SendUntil(**stream, 40000).ok());
  const absl::Status finished = (*stream)->Finish(absl::Seconds(20));
  EXPECT_TRUE(finished.ok()) << finished;
  // Only now: the writes trail the sends, so the third may come after the last Send().
  EXPECT_EQ(plan.fired(enospc), 1);
  EXPECT_GE((*stream)->Metrics().backup_disk_full_stalls, 1u);
  EXPECT_EQ(CountLost(**stream, ReadBackups(backup_dir_)), 0);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 40000);
}

TEST_F(IoFaultTest, EnospcOnAFileCreationAndItsFdatasyncAreRetried) {
  DiskBackupPolicy backups = Policy();
  backups.max_file_size_bytes = 64 * 1024;  // Many files, many creations and syncs.
  backups.retain_backups = true;
  auto stream = Builder(backups).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int create = plan.Add({.op = FaultOp::kOpen, .nth = 2, .error = ENOSPC});
  const int sync = plan.Add({.op = FaultOp::kDataSync,
                             .nth = 2,
                             .error = ENOSPC,
                             .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  ASSERT_TRUE(SendUntil(**stream, 30000).ok());
  const absl::Status finished = (*stream)->Finish(absl::Seconds(20));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(plan.fired(create), 1);
  EXPECT_EQ(plan.fired(sync), 1);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 30000);
  // Every file is whole: the retried writes left no hole and no stray padding.
  const DiskContents disk = ReadBackups(backup_dir_);
  EXPECT_EQ(disk.copies.size(), 30000u);
  EXPECT_EQ(disk.damaged_files, 0) << disk.damage;
}

TEST_F(IoFaultTest, EioOnABackupFileFdatasyncRefusesSendNamingTheFile) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kDataSync,
                            .nth = 2,
                            .error = EIO,
                            .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok()) << accepted_ << " messages and no 2nd fdatasync";
  EXPECT_EQ(plan.fired(eio), 1);
  ExpectClearRefusal(refused, "Input/output error");
  EXPECT_TRUE(absl::StrContains(refused.message(), "fdatasync backup file")) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), ".pbfs")) << refused;
  ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
}

TEST_F(IoFaultTest, EioOnTheBackupDirectoryFsyncRefusesSendNamingTheDirectory) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kFullSync, .nth = 2, .error = EIO});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok()) << accepted_ << " messages and no 2nd directory fsync";
  EXPECT_EQ(plan.fired(eio), 1);
  ExpectClearRefusal(refused, "Input/output error");
  EXPECT_TRUE(absl::StrContains(refused.message(),
                                absl::StrCat("fsync backup directory ", backup_dir_)))
      << refused;
  ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
}

TEST_F(IoFaultTest, ReadOnlyFileSystemAtRotationRefusesSendNamingTheNewFile) {
  DiskBackupPolicy backups = Policy();
  backups.max_file_size_bytes = 64 * 1024;  // Every chunk rotates to a new file.
  auto stream = Builder(backups).CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int erofs = plan.Add({.op = FaultOp::kOpen, .nth = 2, .error = EROFS});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok()) << accepted_ << " messages and no second backup file";
  EXPECT_EQ(plan.fired(erofs), 1);
  ExpectClearRefusal(refused, "Read-only file system");
  EXPECT_TRUE(absl::StrContains(refused.message(), "create backup file")) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "-000001-0002.pbfs"))
      << "does not name the file it could not create: " << refused;
  EXPECT_EQ(BackupFiles(backup_dir_).size(), 1u) << "the refused file must not exist";
  ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
}

TEST_F(IoFaultTest, ShortBackupWritesInTheMiddleLeaveByteExactFilesAndLoseNothing) {
  DiskBackupPolicy backups = Policy();
  backups.retain_backups = true;  // So that the files can be read back afterwards.
  auto stream = Builder(backups).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int once = plan.Add({.op = FaultOp::kWrite,
                             .nth = 2,
                             .outcome = FaultOutcome::kShortWrite,
                             .path_contains = ".pbfs"});
  const int later = plan.Add({.op = FaultOp::kWrite,
                              .nth = 4,
                              .outcome = FaultOutcome::kShortWrite,
                              .and_after = true,
                              .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  ASSERT_TRUE(SendUntil(**stream, 40000).ok());
  const absl::Status finished = (*stream)->Finish(absl::Seconds(20));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(plan.fired(once), 1);
  EXPECT_GE(plan.fired(later), 1);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, 40000);
  // Strict reading: a file that is not byte-exact fails a CRC or ends torn.
  int64_t on_disk = 0;
  for (const std::string& path : BackupFiles(backup_dir_)) {
    auto contents = io::ReadPbfsFile(path, io::PbfsReadMode::kStrict);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_EQ(contents->report.end, io::PbfsEnd::kClean) << path;
    EXPECT_EQ(contents->report.bytes_read, contents->report.file_size_bytes) << path;
    on_disk += static_cast<int64_t>(contents->messages.size());
  }
  const DiskContents disk = ReadBackups(backup_dir_);
  EXPECT_EQ(on_disk, 40000);
  EXPECT_EQ(disk.copies.size(), 40000u) << "each message exactly once on disk";
  EXPECT_EQ(disk.damaged_files, 0) << disk.damage;
}

// A disk that is full for a while and then has space again. While it is full, Send() pushes
// back with a retryable ResourceExhausted that says the disk is full (messages already taken
// wait in memory, none go out unprotected); once space comes back the stream carries on,
// loses nothing and finishes clean.
TEST_F(IoFaultTest, StreamRecoversWhenSpaceComesBack) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int full = plan.Add({.op = FaultOp::kWrite,
                             .nth = 3,
                             .error = ENOSPC,
                             .and_after = true,
                             .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  // Send until the disk has been full for a while, counting the push-back.
  int pushed_back = 0;
  absl::Time full_since = absl::InfiniteFuture();
  while (next_ < kMaxMessages && absl::Now() < full_since + absl::Milliseconds(500)) {
    const absl::Status s = (*stream)->Send(
        "f", TimestampOf(next_), {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
    if (s.ok()) {
      ++accepted_;
      ++next_;
      if (next_ % 200 == 0) absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    ASSERT_TRUE(absl::IsResourceExhausted(s)) << "a full disk must be retryable: " << s;
    if (plan.fired(full) > 0 && full_since == absl::InfiniteFuture()) full_since = absl::Now();
    if (plan.fired(full) > 0 &&
        absl::StrContains(s.message(), "No space left on device")) {
      ++pushed_back;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_GT(plan.fired(full), 0) << "the disk never filled";
  EXPECT_GT(pushed_back, 0) << "Send never said the disk is full";
  EXPECT_TRUE((*stream)->Metrics().backup_disk_full);
  plan.Clear(full);  // Space comes back.
  ASSERT_TRUE(SendUntil(**stream, next_ + 20000).ok());
  const absl::Status finished = (*stream)->Finish(absl::Seconds(20));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_FALSE((*stream)->Metrics().backup_disk_full);
  EXPECT_EQ(CountLost(**stream, ReadBackups(backup_dir_)), 0);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
  EXPECT_TRUE(BackupFiles(backup_dir_).empty()) << "acknowledged files are deleted";
}

// A disk that stays full past Finish's deadline: what waits in memory cannot be written, and
// Finish must say so rather than hang or claim success.
TEST_F(IoFaultTest, DiskFullPastFinishDeadlineEndsPromptlyAndHonestly) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  testing::FaultPlan refuse;  // Nothing acknowledged: the disk is all there is.
  refuse.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(refuse);
  io::FaultPlan plan;
  plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .and_after = true,
            .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  absl::Status s;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (next_ < kMaxMessages && absl::Now() < give_up) {
    s = (*stream)->Send("f", TimestampOf(next_),
                        {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
    if (absl::StrContains(s.message(), "backup disk is full")) break;
    if (absl::IsResourceExhausted(s)) {  // The queue filled before the stall was seen.
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    ASSERT_TRUE(s.ok()) << s;
    ++accepted_;
    ++next_;
  }
  ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "backup disk is full")) << s;
  const absl::Time start = absl::Now();
  const absl::Status finished = (*stream)->Finish(absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(finished.ok());
  ExpectHonestFinish(finished, **stream);
}

// A file system mounted for one test and unmounted at the end, even on failure.
class ScopedTmpfs {
 public:
  ScopedTmpfs(std::string dir, const char* options) : dir_(std::move(dir)) {
    mkdir(dir_.c_str(), 0700);
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, options) == 0) {
      mounted_ = true;
    } else {
      error_ = strerror(errno);
    }
  }
  ~ScopedTmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

TEST_F(IoFaultTest, RealFullTmpfsPushesBackAndRecoversWhenFilesAreRemoved) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a 2 MiB tmpfs needs root";
  if (!private_mounts_error.empty()) {
    GTEST_SKIP() << "no private mount namespace to mount a tmpfs in: " << private_mounts_error;
  }
  backup_dir_ += "/tmpfs";
  ScopedTmpfs tmpfs(backup_dir_, "size=2m");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << tmpfs.error();
  DiskBackupPolicy backups = Policy();
  backups.max_file_size_bytes = 256 << 10;
  backups.retain_backups = true;  // Acknowledged files stay, so the disk surely fills.
  {
    auto stream = Builder(backups).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    absl::Status s;
    while (next_ < kMaxMessages) {
      s = (*stream)->Send("f", TimestampOf(next_),
                          {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
      if (absl::IsResourceExhausted(s) && (*stream)->Metrics().backup_disk_full) break;
      if (absl::IsResourceExhausted(s)) {
        absl::SleepFor(absl::Milliseconds(1));
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      ++accepted_;
      ++next_;
      // Paced so that each 100 ms checkpoint is a small part of the disk: a checkpoint larger
      // than the disk cannot end (its last file cannot be synced), so none would be
      // acknowledged and no file could be removed to make room.
      if (next_ % 50 == 0) absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_LT(next_, kMaxMessages) << "200k messages fit in a 2 MiB tmpfs?";
    EXPECT_TRUE(absl::StrContains(s.message(), "No space left on device")) << s;
    // An operator makes room: acknowledged files go as soon as they are marked so.
    int resumed = 0;
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (resumed < 2000 && absl::Now() < give_up) {
      for (const std::string& file : BackupFiles(backup_dir_)) {
        struct stat st;
        if (stat((file + ".acked").c_str(), &st) == 0) unlink(file.c_str());
      }
      s = (*stream)->Send("f", TimestampOf(next_),
                          {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
      if (s.ok()) {
        ++accepted_;
        ++next_;
        ++resumed;
        continue;
      }
      ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(resumed, 2000) << "the stream did not resume once space came back: " << s;
    // Retained files keep filling the disk: the operator goes on making room until the end.
    std::atomic<bool> done{false};
    std::thread operator_thread([&] {
      while (!done.load()) {
        for (const std::string& file : BackupFiles(backup_dir_)) {
          struct stat st;
          if (stat((file + ".acked").c_str(), &st) == 0) unlink(file.c_str());
        }
        absl::SleepFor(absl::Milliseconds(5));
      }
    });
    const absl::Status finished = (*stream)->Finish(absl::Seconds(15));
    done = true;
    operator_thread.join();
    EXPECT_TRUE(finished.ok()) << finished;
    EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
  }  // The stream closes its files before the file system goes.
}

}  // namespace
}  // namespace sift_stream

// A mount made by a test must never outlive the test process or show up outside it (under
// --config=tsan tests run unsandboxed, as root): a private mount namespace, entered before any
// thread starts, is torn down with the process. Without the privilege the mount tests skip.
int main(int argc, char** argv) {
  if (unshare(CLONE_NEWNS) != 0) {
    sift_stream::private_mounts_error = absl::StrCat("unshare(CLONE_NEWNS): ", strerror(errno));
  } else if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    sift_stream::private_mounts_error = absl::StrCat("making / private: ", strerror(errno));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
