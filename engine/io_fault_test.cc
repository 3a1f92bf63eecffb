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

// Flush may say OK only after the fdatasync it asked for succeeded: one that fails must make
// Flush fail, and the fault firing proves Flush asked for one at all.
TEST_F(IoFaultTest, FlushWaitsForItsFdatasyncAndFailsWhenItFails) {
  DiskBackupPolicy backups = Policy();
  backups.max_file_size_bytes = 64 << 20;  // One file: no rotation syncs it behind Flush's back.
  auto stream = Builder(backups).Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(SendUntil(**stream, 2000).ok());
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kDataSync, .nth = 1, .error = EIO,
                            .path_contains = ".pbfs"});
  ScopedFaultPlan scoped(&plan);
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_EQ(plan.fired(eio), 1) << "Flush returned without an fdatasync of the backup file";
  EXPECT_TRUE(absl::IsDataLoss(flushed)) << flushed;
  EXPECT_TRUE(absl::StrContains(flushed.message(), "Input/output error")) << flushed;
}

// The directory entry of a new file is part of "durable": its fsync failing fails Flush too.
TEST_F(IoFaultTest, FlushWaitsForTheDirectoryFsyncOfANewFile) {
  auto stream = Builder(Policy()).Mode(StreamMode::kBackupsOnly).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  io::FaultPlan plan;
  const int eio = plan.Add({.op = FaultOp::kFullSync, .nth = 1, .error = EIO});
  ScopedFaultPlan scoped(&plan);
  const absl::Status sent = SendUntil(**stream, 10);  // Creates the first file.
  const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
  EXPECT_EQ(plan.fired(eio), 1) << "no directory fsync for the new file";
  EXPECT_FALSE(flushed.ok()) << "Flush confirmed a file whose directory entry failed to sync";
  EXPECT_TRUE(absl::IsDataLoss(flushed) || !sent.ok()) << flushed;
}

// What a Flush confirmed outlives a disk that fails afterwards: the next stream on the
// directory recovers it from the files, and Sift commits every confirmed message.
TEST_F(IoFaultTest, MessagesAFlushConfirmedSurviveALaterDiskFailure) {
  int confirmed = 0;
  {
    auto stream = Builder(Policy()).Mode(StreamMode::kBackupsOnly).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    ASSERT_TRUE(SendUntil(**stream, 5000).ok());
    const absl::Status flushed = (*stream)->Flush(absl::Seconds(10));
    ASSERT_TRUE(flushed.ok()) << flushed;
    confirmed = accepted_;
    io::FaultPlan plan;
    const int eio = plan.Add({.op = FaultOp::kWrite, .nth = 1, .error = EIO,
                              .and_after = true, .path_contains = ".pbfs"});
    ScopedFaultPlan scoped(&plan);
    const absl::Status refused = SendUntilRefused(**stream);
    ASSERT_FALSE(refused.ok()) << "the disk failed and Send never said so";
    EXPECT_GT(plan.fired(eio), 0);
    EXPECT_FALSE((*stream)->Finish(absl::Seconds(10)).ok());
  }
  auto recovering = Builder(Policy()).Build();
  ASSERT_TRUE(recovering.ok()) << recovering.status();
  (void)(*recovering)->Finish(absl::Seconds(30));  // Damaged tails may make it say DataLoss.
  int missing = 0, first_missing = -1;
  for (int i = 0; i < confirmed; ++i) {
    if (Committed(**recovering, i)) continue;
    if (first_missing < 0) first_missing = i;
    ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << confirmed << " confirmed messages, first " << first_missing;
  EXPECT_GE((*recovering)->Metrics().messages_recovered, static_cast<uint64_t>(confirmed));
}

// Deleting an acknowledged file fails (EIO): the data is in Sift, so streaming goes on, the
// failure is reported, the file is left — and the next stream's recovery sends it again and
// deletes it (duplicates, never loss).
TEST_F(IoFaultTest, FailedDeletesOfAcknowledgedFilesLoseNothingAndAreRecoveredLater) {
  {
    auto stream = Builder(Policy()).Build();
    ASSERT_TRUE(stream.ok()) << stream.status();
    io::FaultPlan plan;
    const int eio = plan.Add({.op = FaultOp::kUnlink, .nth = 1, .error = EIO,
                              .and_after = true, .path_contains = ".pbfs"});
    ScopedFaultPlan scoped(&plan);
    ASSERT_TRUE(SendUntil(**stream, 20000).ok()) << "a failed delete must not stop Send";
    const FinishReport report = (*stream)->FinishWithReport(absl::Seconds(20));
    EXPECT_GT(plan.fired(eio), 0) << "no acknowledged file was deleted";
    EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
    // Sift has everything: Finish says so, and names the files it could not delete.
    EXPECT_TRUE(report.status.ok()) << report.status;
    EXPECT_EQ(report.messages_acknowledged, static_cast<uint64_t>(accepted_));
    const std::vector<std::string> left = BackupFiles(backup_dir_);
    EXPECT_FALSE(left.empty());
    EXPECT_EQ(report.undeleted_files.size(), left.size());
    EXPECT_TRUE(absl::StrContains((*stream)->Metrics().last_error, "delete backup file"))
        << (*stream)->Metrics().last_error;
  }
  auto next = Builder(Policy()).Build();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)->Finish(absl::Seconds(30)).ok());
  EXPECT_TRUE(BackupFiles(backup_dir_).empty()) << "recovery left the undeletable files";
  EXPECT_EQ(sift_->Stats().ingest.committed_messages, accepted_);
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
