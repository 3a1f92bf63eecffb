// BackupManager durability: durable_messages() is an exact prefix that only syncs advance, the
// sync policies, the directory lock and the acknowledgement markers of retained files.

#include <sys/stat.h>

#include "engine/backup_dir.h"
#include "engine/backup_manager.h"
#include "engine/backup_manager_test_fixture.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"
#include "absl/strings/match.h"

namespace sift_stream::engine {
namespace {

using backup_test::BackupManagerTest;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST_F(BackupManagerTest, DurablePrefixGrowsOnlyThroughSyncAndCoversRotatedFiles) {
  auto manager = Make(Policy(4096, /*retain=*/true));  // Several files per checkpoint.
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 300);
  EXPECT_EQ(manager->messages_appended(), 300u);
  EXPECT_LT(manager->durable_messages(), 300u);  // The open chunk is in memory only.
  manager->Sync();
  ASSERT_TRUE(io::RunUntil(*ring_, [&] { return manager->durable_messages() == 300; },
                           absl::Seconds(10), "durable 300").ok());
  EXPECT_TRUE(manager->synced());
  EXPECT_GT(manager->metrics().rotations, 0u);
  // What durable_messages() vouches for is on disk now: the files hold messages 0..299.
  std::vector<std::string> all;
  for (const std::string& name : Files()) {
    // The open file ends in its in-flight O_DIRECT padding: a torn tail, by design.
    auto contents = io::ReadPbfsFile(Path(name), io::PbfsReadMode::kStrict);
    ASSERT_TRUE(contents.ok()) << contents.status();
    EXPECT_NE(contents->report.end, io::PbfsEnd::kCorrupt) << contents->report.problem;
    all.insert(all.end(), contents->messages.begin(), contents->messages.end());
  }
  EXPECT_EQ(all, backup_test::Messages(0, 300));
  AppendRange(*manager, 300, 310);
  EXPECT_EQ(manager->durable_messages(), 300u);
}

TEST_F(BackupManagerTest, NeverPolicyMakesSyncOnlyWaitForTheWrites) {
  DiskBackupPolicy policy = Policy(16 << 20, /*retain=*/true);
  policy.sync = SyncPolicy::Never();
  auto manager = Make(policy);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 100);
  manager->Sync();
  ASSERT_TRUE(io::RunUntil(*ring_, [&] { return manager->durable_messages() == 100; },
                           absl::Seconds(10), "written 100").ok());
}

TEST_F(BackupManagerTest, BytesPolicySyncsWithoutBeingAsked) {
  DiskBackupPolicy policy = Policy(16 << 20, /*retain=*/true);
  policy.sync = SyncPolicy::EveryBytes(2000);
  auto manager = Make(policy, /*chunk_target_bytes=*/1 << 20);  // Chunks never fill by size.
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 200);
  ASSERT_TRUE(io::RunUntil(*ring_, [&] { return manager->durable_messages() > 0; },
                           absl::Seconds(10), "an automatic sync").ok());
}

TEST_F(BackupManagerTest, SecondManagerOnTheSameDirectoryIsRefusedUntilTheFirstIsGone) {
  auto first = Make(Policy(16 << 20, /*retain=*/false));
  ASSERT_NE(first, nullptr);
  auto second = BackupManager::Create(*ring_, bus_, Policy(16 << 20, false), "t");
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_TRUE(absl::StrContains(second.status().message(), "in use")) << second.status();
  first.reset();
  auto third = BackupManager::Create(*ring_, bus_, Policy(16 << 20, false), "t");
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_F(BackupManagerTest, RetainedAcknowledgedFilesGetMarkersThatRecoverySkips) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 50);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  ASSERT_EQ(Files().size(), 1u);
  EXPECT_TRUE(Exists(Path(Files()[0]) + ".acked"));
  EXPECT_TRUE(LeftoverBackupFiles(dir_, "other").empty());
  // Without the marker the same file is a leftover; the writing stream's own files never are.
  ASSERT_EQ(unlink((Path(Files()[0]) + ".acked").c_str()), 0);
  EXPECT_EQ(LeftoverBackupFiles(dir_, "other"), std::vector<std::string>{Path(Files()[0])});
  EXPECT_TRUE(LeftoverBackupFiles(dir_, "s").empty());
}

}  // namespace
}  // namespace sift_stream::engine
