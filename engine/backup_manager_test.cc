#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/backup_manager.h"
#include "engine/backup_manager_test_fixture.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"
#include "io/ring.h"

namespace sift_stream::engine {
namespace {

using State = BackupManager::State;
using backup_test::BackupManagerTest;
using backup_test::ExpectedBytes;
using backup_test::Message;
using backup_test::Messages;
using backup_test::ReadBytes;
using backup_test::ScopedTmpfs;

TEST_F(BackupManagerTest, MessagesLandInTheirCheckpointsFilesExactlyAndInOrder) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 100);
  Send(ControlKind::kCheckpointComplete, 1);
  AppendRange(*manager, 100, 150);
  Send(ControlKind::kCheckpointComplete, 2);
  AppendRange(*manager, 150, 180);
  Send(ControlKind::kCheckpointComplete, 3);
  Settle(*manager);

  ASSERT_EQ(Files(), (std::vector<std::string>{"s-000001-0001.pbfs", "s-000002-0001.pbfs",
                                               "s-000003-0001.pbfs"}));
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 100));
  EXPECT_EQ(ReadClean(Files()[1]), Messages(100, 150));
  EXPECT_EQ(ReadClean(Files()[2]), Messages(150, 180));
  EXPECT_EQ(ReadBytes(Path(Files()[0])), ExpectedBytes(0, 100, 1024));
  EXPECT_EQ(ReadBytes(Path(Files()[1])), ExpectedBytes(100, 150, 1024));
  EXPECT_EQ(ReadBytes(Path(Files()[2])), ExpectedBytes(150, 180, 1024));
  struct stat st;
  ASSERT_EQ(stat(Path(Files()[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const BackupMetrics metrics = manager->metrics();
  EXPECT_EQ(metrics.messages_backed_up, 180u);
  EXPECT_EQ(metrics.files_created, 3u);
  EXPECT_EQ(metrics.current_checkpoint, 4u);
  EXPECT_EQ(metrics.checkpoints_completed, 3u);
}

TEST_F(BackupManagerTest, CompleteWhileAChunkWaitsForBuffersKeepsItInTheEndingCheckpoint) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true), 3000, /*buffer_bytes=*/4096);
  ASSERT_NE(manager, nullptr);
  int taken = 0;  // Without turning the ring, the file runs out of buffers.
  while (taken < 10000 && manager->Append(Message(taken)).ok()) ++taken;
  ASSERT_FALSE(manager->accepting());
  Send(ControlKind::kCheckpointComplete, 1);
  EXPECT_TRUE(absl::IsUnavailable(manager->Append("too early")));
  AppendRange(*manager, taken, taken + 50);
  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);

  ASSERT_EQ(Files(), (std::vector<std::string>{"s-000001-0001.pbfs", "s-000002-0001.pbfs"}));
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, taken));
  EXPECT_EQ(ReadClean(Files()[1]), Messages(taken, taken + 50));
}

TEST_F(BackupManagerTest, RotationBySizeMakesSeveralCleanFilesNamedInWriteOrder) {
  auto manager = Make(Policy(8192, /*retain=*/true));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 600);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);

  const std::vector<std::string> files = Files();
  ASSERT_GE(files.size(), 3u);
  std::vector<std::string> messages;
  std::string bytes;
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i], absl::StrFormat("s-000001-%04d.pbfs", i + 1));
    for (std::string& m : ReadClean(files[i])) messages.push_back(std::move(m));
    const std::string file_bytes = ReadBytes(Path(files[i]));
    if (i + 1 < files.size()) {
      EXPECT_GE(file_bytes.size(), 8192u) << files[i];
    }
    EXPECT_LT(file_bytes.size(), 8192u + 1024 + 200) << files[i];
    bytes += file_bytes;
  }
  EXPECT_EQ(messages, Messages(0, 600));
  EXPECT_EQ(bytes, ExpectedBytes(0, 600, 1024));
  EXPECT_GE(manager->metrics().rotations, files.size() - 1);
  EXPECT_EQ(manager->metrics().files_created, files.size());
}

TEST_F(BackupManagerTest, BackupFullIsPublishedOncePerCheckpointAndWritingGoesOn) {
  DiskBackupPolicy policy = Policy(4096, /*retain=*/true);
  policy.max_file_count = 2;
  auto manager = Make(policy);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 500);  // About six files' worth.
  manager->Sync();  // Mid-checkpoint, the current file holds unflushed bytes until a Sync.
  Settle(*manager);
  ASSERT_EQ(Seen(ControlKind::kBackupFull).size(), 1u);
  EXPECT_EQ(Seen(ControlKind::kBackupFull)[0].checkpoint, 1u);
  EXPECT_GT(manager->metrics().files_in_current_checkpoint, 2u);  // Never dropped.

  Send(ControlKind::kCheckpointComplete, 1);
  AppendRange(*manager, 500, 1000);
  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);
  ASSERT_EQ(Seen(ControlKind::kBackupFull).size(), 2u);
  EXPECT_EQ(Seen(ControlKind::kBackupFull)[1].checkpoint, 2u);
  EXPECT_EQ(manager->metrics().backup_full_signals, 2u);
  std::vector<std::string> first, second;
  for (const std::string& name : Files()) {
    std::vector<std::string>& into = name.rfind("s-000001-", 0) == 0 ? first : second;
    for (std::string& m : ReadClean(name)) into.push_back(std::move(m));
  }
  EXPECT_EQ(first, Messages(0, 500));
  EXPECT_EQ(second, Messages(500, 1000));
}

TEST_F(BackupManagerTest, AcknowledgedCheckpointsFilesAreDeletedUnlessRetained) {
  for (bool retain : {false, true}) {
    SCOPED_TRACE(retain ? "retain_backups" : "delete");
    auto manager = Make(Policy(4096, retain));
    ASSERT_NE(manager, nullptr);
    AppendRange(*manager, 0, 300);
    Send(ControlKind::kCheckpointComplete, 1);
    Settle(*manager);
    const BackupMetrics metrics = manager->metrics();
    EXPECT_GE(metrics.files_created, 2u);
    EXPECT_EQ(Files().size(), retain ? metrics.files_created : 0u);
    EXPECT_EQ(metrics.files_deleted, retain ? 0u : metrics.files_created);
    EXPECT_TRUE(Seen(ControlKind::kReingestBackups).empty());
    manager.reset();
    for (const std::string& name : Files()) unlink(Path(name).c_str());
  }
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
}

TEST_F(BackupManagerTest, FailedCheckpointsFilesAreHandedToReingestionInWriteOrder) {
  auto manager = Make(Policy(4096, /*retain=*/false));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 300);
  Send(ControlKind::kCheckpointNeedsReingestion, 1);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  const std::vector<std::string> kept = Files();
  ASSERT_GE(kept.size(), 2u);
  const std::vector<ControlMessage> reingest = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(reingest.size(), 1u);
  EXPECT_EQ(reingest[0].checkpoint, 1u);
  std::vector<std::string> paths;
  for (const std::string& name : kept) paths.push_back(Path(name));
  EXPECT_EQ(reingest[0].backup_files, paths);
  EXPECT_EQ(manager->metrics().files_deleted, 0u);

  // The next checkpoint succeeds: only its own files go.
  AppendRange(*manager, 300, 400);
  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);
  EXPECT_EQ(Files(), kept);
  EXPECT_EQ(Seen(ControlKind::kReingestBackups).size(), 1u);
}

TEST_F(BackupManagerTest, BusyFileMakesAppendUnavailableAndNothingIsLost) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true), 2048, /*buffer_bytes=*/4096);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 2000);
  EXPECT_GT(unavailable_, 0) << "tiny buffers never pushed back";
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  ASSERT_EQ(Files().size(), 1u);
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 2000));
  EXPECT_EQ(manager->metrics().messages_backed_up, 2000u);
}

TEST_F(BackupManagerTest, MissingBackupDirIsNotFoundAndSaysWhatToDo) {
  DiskBackupPolicy policy = Policy(4096, false);
  policy.backup_dir = dir_ + "/missing";
  auto manager = BackupManager::Create(*ring_, bus_, policy, "s");
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(absl::IsNotFound(manager.status())) << manager.status();
  EXPECT_NE(manager.status().message().find(policy.backup_dir + " does not exist: create it"),
            absl::string_view::npos)
      << manager.status();
}

TEST_F(BackupManagerTest, BackupDirThatIsAFileIsFailedPrecondition) {
  DiskBackupPolicy policy = Policy(4096, false);
  policy.backup_dir = dir_ + "/plain-file";
  { std::ofstream(policy.backup_dir) << "not a directory"; }
  auto manager = BackupManager::Create(*ring_, bus_, policy, "s");
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(manager.status())) << manager.status();
  EXPECT_NE(manager.status().message().find("is not a directory"), absl::string_view::npos);
}

TEST_F(BackupManagerTest, ReadOnlyBackupDirIsPermissionDenied) {
  // Root ignores mode bits, so only a read-only mount says no to everyone.
  ScopedTmpfs ro("readonly", "size=64k", MS_RDONLY);
  if (!ro.mounted) GTEST_SKIP() << "cannot mount a read-only tmpfs here: " << ro.error;
  DiskBackupPolicy policy = Policy(4096, false);
  policy.backup_dir = ro.dir;
  auto manager = BackupManager::Create(*ring_, bus_, policy, "s");
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(manager.status())) << manager.status();
  EXPECT_NE(manager.status().message().find(ro.dir + " is not writable"),
            absl::string_view::npos)
      << manager.status();
}

TEST_F(BackupManagerTest, FullDiskStallsNamingTheFileResumesWithSpaceAndFailsOnlyIfAbandoned) {
  ScopedTmpfs small("small", "size=256k");
  if (!small.mounted) GTEST_SKIP() << "cannot mount a 256 KiB tmpfs here: " << small.error;
  const std::string filler = small.dir + "/filler";
  std::ofstream(filler) << std::string(160 << 10, 'f');
  DiskBackupPolicy policy = Policy(16 << 20, false);
  policy.backup_dir = small.dir;
  auto manager = Make(policy, 16 << 10, /*buffer_bytes=*/64 << 10);
  ASSERT_NE(manager, nullptr);
  const std::string block(1000, 'z');
  // Fill until the disk is full: Append only ever pushes back, never fails.
  int appended = 0;
  while (manager->stall().ok() && appended < 100000) {
    absl::Status s = manager->Append(block);
    if (absl::IsUnavailable(s)) {
      ASSERT_TRUE(ring_->RunOnce(absl::Milliseconds(20)).ok());
      continue;
    }
    ASSERT_TRUE(s.ok()) << s;
    ++appended;
  }
  ASSERT_TRUE(absl::IsResourceExhausted(manager->stall())) << "the disk never filled";
  const std::string file = small.dir + "/s-000001-0001.pbfs";
  EXPECT_NE(manager->stall().message().find(file), absl::string_view::npos) << manager->stall();
  EXPECT_TRUE(manager->status().ok()) << manager->status();
  EXPECT_FALSE(manager->idle());
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
  // Space comes back: everything appended becomes durable, in order, with no error.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  manager->Sync();
  ASSERT_TRUE(io::RunUntil(*ring_, [&] {
                return manager->durable_messages() == static_cast<uint64_t>(appended);
              }, absl::Seconds(10), "the stalled writes").ok());
  EXPECT_TRUE(manager->stall().ok());
  // Full again, and this time given up (a deadline ran out): then, and only then, it fails.
  while (manager->stall().ok()) {
    absl::Status s = manager->Append(block);
    if (absl::IsUnavailable(s)) {
      ASSERT_TRUE(ring_->RunOnce(absl::Milliseconds(20)).ok());
    }
  }
  manager->AbandonStall();
  Settle(*manager);
  EXPECT_EQ(manager->state(), State::kFailed);
  EXPECT_TRUE(absl::IsResourceExhausted(manager->status())) << manager->status();
  EXPECT_EQ(manager->Append(block), manager->status());
  EXPECT_EQ(Seen(ControlKind::kErrorSignal).size(), 1u);
  manager.reset();  // Before the mount goes.
}

TEST_F(BackupManagerTest, ShutdownLeavesTheLastFileClosedAndClean) {
  auto manager = Make(Policy(16 << 20, /*retain=*/false), 256 << 10);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 50);
  EXPECT_TRUE(Files().empty());  // The chunk is far from its target: no file yet.
  Send(ControlKind::kShutdown, 0);
  Settle(*manager);
  EXPECT_EQ(manager->state(), State::kShutDown);
  ASSERT_EQ(Files(), std::vector<std::string>{"s-000001-0001.pbfs"});
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 50));
  EXPECT_TRUE(absl::IsFailedPrecondition(manager->Append("late"))) << manager->Append("late");

  // A CheckpointComplete after Shutdown still disposes of the checkpoint.
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  EXPECT_TRUE(Files().empty());
}

TEST_F(BackupManagerTest, SyncPutsEverythingAppendedOnStableStorage) {
  auto manager = Make(Policy(16 << 20, /*retain=*/false), 256 << 10);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 20);
  EXPECT_FALSE(manager->synced());
  manager->Sync();
  absl::Status s = io::RunUntil(
      *ring_, [&] { return manager->synced(); }, absl::Seconds(10), "Sync");
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(Files().size(), 1u);
  // Still open, so an O_DIRECT file may end in padding; every message is there.
  auto contents = io::ReadPbfsFile(Path(Files()[0]), io::PbfsReadMode::kStrict);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->messages, Messages(0, 20));
  AppendRange(*manager, 20, 21);
  EXPECT_FALSE(manager->synced());
}

TEST_F(BackupManagerTest, CheckpointWithoutMessagesHasNoFilesAndNumberingGoesOn) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true), 256 << 10);
  ASSERT_NE(manager, nullptr);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  EXPECT_TRUE(Files().empty());
  AppendRange(*manager, 0, 10);
  Send(ControlKind::kCheckpointComplete, 1);  // A repeat: ignored.
  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);
  ASSERT_EQ(Files(), std::vector<std::string>{"s-000002-0001.pbfs"});
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 10));
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
}

TEST_F(BackupManagerTest, SkippedCheckpointNumberKeepsTheFilesForReingestion) {
  auto manager = Make(Policy(16 << 20, /*retain=*/false), 256 << 10);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 10);
  Send(ControlKind::kCheckpointComplete, 3);  // Checkpoint 1 was never acknowledged as such.
  Settle(*manager);
  EXPECT_EQ(Seen(ControlKind::kErrorSignal).size(), 1u);
  ASSERT_EQ(Seen(ControlKind::kReingestBackups).size(), 1u);
  EXPECT_EQ(Files(), std::vector<std::string>{"s-000001-0001.pbfs"});
  EXPECT_EQ(manager->metrics().current_checkpoint, 4u);
}

}  // namespace
}  // namespace sift_stream::engine
