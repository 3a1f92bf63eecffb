// Disk faults driven through the whole engine: SiftStream against the in-process fake Sift,
// real io_uring, real backup files, and io/fault_injection.h making chosen backup operations
// fail (ENOSPC, EIO, EROFS) or come up short; plus a real full disk (a tiny tmpfs).
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

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "io/fault_injection.h"
#include "io/pbfs_reader.h"
#include "testing/fake_sift.h"

namespace sift_stream {

// Why this process has no private mount namespace (see main); empty if it has one.
std::string private_mounts_error;

namespace {

using io::FaultOp;
using io::FaultOutcome;
using io::ScopedFaultPlan;
using testing::FakeSift;
using testing::FakeSiftOptions;

constexpr char kKey[] = "io-fault-test";
constexpr int64_t kFirstMicros = 1764000000000000;
// Each test stops sending once Send() is refused for good or after this many messages.
constexpr int kMaxMessages = 200000;

absl::Time TimestampOf(int i) { return absl::FromUnixMicros(kFirstMicros + i); }

std::vector<std::string> BackupFiles(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (absl::EndsWith(e->d_name, ".pbfs")) files.push_back(absl::StrCat(dir, "/", e->d_name));
    }
    closedir(d);
  }
  return files;
}

// What the backup files hold: how often each message index appears, and whether every file
// read clean (a failed write may leave a torn tail, which salvage reading steps over).
struct DiskContents {
  absl::flat_hash_map<int, int> copies;
  int files = 0;
  int damaged_files = 0;
  std::string damage;
};

DiskContents ReadBackups(const std::string& dir) {
  DiskContents disk;
  for (const std::string& path : BackupFiles(dir)) {
    ++disk.files;
    auto contents = io::ReadPbfsFile(path, io::PbfsReadMode::kSalvage);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (!contents.ok()) continue;
    if (contents->report.end != io::PbfsEnd::kClean) {
      ++disk.damaged_files;
      absl::StrAppend(&disk.damage, path, ": ", io::PbfsEndName(contents->report.end), "; ");
    }
    for (const std::string& bytes : contents->messages) {
      sift::ingest::v1::IngestWithConfigDataStreamRequest request;
      EXPECT_TRUE(request.ParseFromString(bytes)) << path;
      const int64_t micros = request.timestamp().seconds() * 1000000 +
                             request.timestamp().nanos() / 1000;
      ++disk.copies[static_cast<int>(micros - kFirstMicros)];
    }
  }
  return disk;
}

class IoFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {kKey};
    auto sift = FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(sift).value();
    backup_dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(backup_dir_.c_str(), 0700);
  }

  DiskBackupPolicy Policy() const {
    DiskBackupPolicy backups;
    backups.backup_dir = backup_dir_;
    backups.max_file_size_bytes = 1 << 20;
    return backups;
  }

  SiftStreamBuilder Builder(DiskBackupPolicy backups) {
    IngestionConfigSpec config;
    config.asset_name = "rig";
    config.client_key = "rig-v1";
    sift::ingestion_configs::v2::FlowConfig flow;
    flow.set_name("f");
    for (const char* name : {"a", "b"}) {
      auto* channel = flow.add_channels();
      channel->set_name(name);
      channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
    }
    config.flows = {flow};
    RetryPolicy retry;
    retry.initial_backoff = absl::Milliseconds(20);
    retry.max_backoff = absl::Milliseconds(200);
    SiftStreamBuilder builder;
    builder.Uri(sift_->address()).ApiKey(kKey).Tls(false).IngestionConfig(config)
        .Backups(std::move(backups)).CheckpointInterval(absl::Milliseconds(100))
        .AckTimeout(absl::Seconds(2)).LiveRetry(retry).ReingestRetry(retry);
    return builder;
  }

  // Sends messages next_..until `until` (exclusive), paced so that the stream spans several
  // checkpoints and backup writes, retrying while Send says ResourceExhausted (the queue is
  // full). Stops at the first other refusal and returns it; OK if every message was taken.
  absl::Status SendUntil(SiftStream& stream, int until) {
    for (; next_ < until; ++next_) {
      absl::Status s;
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      do {
        s = stream.Send("f", TimestampOf(next_),
                        {ChannelValue::Double(next_), ChannelValue::Double(-next_)});
        if (absl::IsResourceExhausted(s)) absl::SleepFor(absl::Milliseconds(1));
      } while (absl::IsResourceExhausted(s) && absl::Now() < give_up);
      if (!s.ok()) return s;
      ++accepted_;
      if (next_ % 200 == 199) absl::SleepFor(absl::Milliseconds(1));
    }
    return absl::OkStatus();
  }

  // Sends until a refusal that is not back-pressure, or kMaxMessages.
  absl::Status SendUntilRefused(SiftStream& stream) { return SendUntil(stream, kMaxMessages); }

  bool Committed(const SiftStream& stream, int i) const {
    const absl::Time t = TimestampOf(i);
    testing::MessageKey key;
    key.ingestion_config_id = stream.ingestion_config_id();
    key.flow = "f";
    key.timestamp_seconds = absl::ToUnixSeconds(t);
    key.timestamp_nanos =
        static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(
                                                              key.timestamp_seconds)));
    key.run_id = stream.run_id();
    return sift_->recorder().Committed(key);
  }

  // The lossless check: every accepted message (indices 0..accepted_-1: one producer, in
  // order) is committed at the server or held by a backup file. Returns how many are neither,
  // so that a test can hold Finish() to saying DataLoss about them.
  int CountLost(const SiftStream& stream, const DiskContents& disk) {
    int committed = 0, only_on_disk = 0, lost = 0, first_lost = -1;
    for (int i = 0; i < accepted_; ++i) {
      if (Committed(stream, i)) {
        ++committed;
      } else if (disk.copies.contains(i)) {
        ++only_on_disk;
      } else {
        if (first_lost < 0) first_lost = i;
        ++lost;
      }
    }
    std::printf("accepted %d: committed %d, only on disk %d, neither %d (first %d); "
                "%d file(s), %d damaged %s\n",
                accepted_, committed, only_on_disk, lost, first_lost, disk.files,
                disk.damaged_files, disk.damage.c_str());
    return lost;
  }

  // What every test expects of Finish() after the backup disk failed: OK only if every
  // accepted message was committed; DataLoss if any is neither committed nor on disk;
  // otherwise (Unavailable) it names the files it keeps, which must exist.
  void ExpectHonestFinish(const absl::Status& finished, const SiftStream& stream) {
    const int lost = CountLost(stream, ReadBackups(backup_dir_));
    std::printf("Finish: %s\n", finished.ToString().c_str());
    if (finished.ok()) {
      EXPECT_EQ(lost, 0) << "Finish said OK";
      EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
    } else if (lost > 0) {
      EXPECT_TRUE(absl::IsDataLoss(finished)) << lost << " message(s) lost: " << finished;
    } else if (!absl::IsDataLoss(finished)) {
      EXPECT_TRUE(absl::IsUnavailable(finished)) << finished;
      for (const std::string& file : BackupFiles(backup_dir_)) {
        EXPECT_TRUE(absl::StrContains(finished.message(), file)) << file << " not named";
      }
    }
  }

  // Send()'s refusal once a backup operation failed: terminal, naming the backup file and the
  // error, and saying what to do.
  static void ExpectClearRefusal(const absl::Status& refused, absl::string_view error_text) {
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "backup disk failed")) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), error_text)) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(), "fix the disk and start a new stream"))
        << refused;
  }

  std::unique_ptr<FakeSift> sift_;
  std::string backup_dir_;
  int next_ = 0;      // Index (and timestamp) of the next message to send.
  int accepted_ = 0;  // Messages Send() accepted.
};

TEST_F(IoFaultTest, EnospcOnABackupWriteRefusesSendNamingTheFileAndLosesNothingAccepted) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int enospc = plan.Add({.op = FaultOp::kWrite,
                               .nth = 3,
                               .error = ENOSPC,
                               .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok()) << accepted_ << " messages and the 3rd backup write never failed";
  EXPECT_EQ(plan.fired(enospc), 1);
  ExpectClearRefusal(refused, "No space left on device");
  EXPECT_TRUE(absl::StrContains(refused.message(), absl::StrCat(backup_dir_, "/")) &&
              absl::StrContains(refused.message(), ".pbfs at offset"))
      << "does not name the backup file: " << refused;
  // Terminal: later messages are refused the same way, not taken and dropped.
  EXPECT_EQ((*stream)->Send("f", TimestampOf(next_), {ChannelValue::Double(0),
                                                      ChannelValue::Double(0)}).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
}

TEST_F(IoFaultTest, EnospcWhileSiftRefusesEverythingIsDataLossNeverASilentGap) {
  // Nothing is acknowledged, so the files are all there is: whatever the failed write took
  // with it must be owned up to by Finish.
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  testing::FaultPlan refuse;  // After Build: its set-up calls must succeed.
  refuse.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(refuse);
  io::FaultPlan plan;
  plan.Add({.op = FaultOp::kWrite, .nth = 2, .error = ENOSPC, .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok());
  ExpectClearRefusal(refused, "No space left on device");
  const absl::Status finished = (*stream)->Finish(absl::Seconds(5));
  EXPECT_FALSE(finished.ok());
  ExpectHonestFinish(finished, **stream);
  // What reached the disk before the failure is still there, readable.
  EXPECT_GT(ReadBackups(backup_dir_).copies.size(), 0u);
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

// The engine today: a backup failure is terminal. Once the disk fills, Send() refuses every
// later message with FailedPrecondition, even after space comes back. This pins that
// behaviour (and that it stays lossless) until the engine recovers; see the DISABLED_ test.
TEST_F(IoFaultTest, DiskFullIsTerminalTodayEvenAfterSpaceComesBack) {
  auto stream = Builder(Policy()).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int full = plan.Add({.op = FaultOp::kWrite,
                             .nth = 3,
                             .error = ENOSPC,
                             .and_after = true,
                             .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status refused = SendUntilRefused(**stream);
  ASSERT_FALSE(refused.ok());
  ExpectClearRefusal(refused, "No space left on device");
  plan.Clear(full);  // Space comes back.
  absl::SleepFor(absl::Milliseconds(300));  // Several checkpoints.
  const absl::Status after = (*stream)->Send("f", TimestampOf(next_),
                                             {ChannelValue::Double(0), ChannelValue::Double(0)});
  EXPECT_TRUE(absl::IsFailedPrecondition(after)) << after;
  ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
}

// What the issue asks for: a disk that is full for a while and then has space again. While
// it is full, Send() should push back with a retryable ResourceExhausted that says the disk
// is full (messages stay protected, none are taken unprotected); once space comes back the
// stream should carry on, lose nothing and finish clean.
//
// DISABLED: the engine makes any backup failure terminal (Reactor::OnBackupFailure closes the
// queue with FailedPrecondition; BackupManager::Fail enters kFailed for good), so Send()
// never succeeds again. Enable once the engine retries a full disk.
TEST_F(IoFaultTest, DISABLED_StreamRecoversWhenSpaceComesBack) {
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
  plan.Clear(full);  // Space comes back.
  ASSERT_TRUE(SendUntil(**stream, next_ + 20000).ok());
  const absl::Status finished = (*stream)->Finish(absl::Seconds(20));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(CountLost(**stream, ReadBackups(backup_dir_)), 0);
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
  EXPECT_TRUE(BackupFiles(backup_dir_).empty()) << "acknowledged files are deleted";
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

TEST_F(IoFaultTest, RealFullTmpfsRefusesSendSayingTheDiskIsFullAndKeepsWhatItHolds) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a 2 MiB tmpfs needs root";
  if (!private_mounts_error.empty()) {
    GTEST_SKIP() << "no private mount namespace to mount a tmpfs in: " << private_mounts_error;
  }
  backup_dir_ += "/tmpfs";
  ScopedTmpfs tmpfs(backup_dir_, "size=2m");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << tmpfs.error();
  DiskBackupPolicy backups = Policy();
  backups.retain_backups = true;  // Acknowledged files stay, so the disk surely fills.
  {
    auto stream = Builder(backups).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    const absl::Status refused = SendUntilRefused(**stream);
    ASSERT_FALSE(refused.ok()) << accepted_ << " messages fit in a 2 MiB tmpfs?";
    // The refusal is terminal (FailedPrecondition); the disk-full cause is in its text.
    ExpectClearRefusal(refused, "No space left on device");
    EXPECT_TRUE(absl::StrContains(refused.message(), ".pbfs")) << refused;
    ExpectHonestFinish((*stream)->Finish(absl::Seconds(15)), **stream);
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
