// The checkpoint boundary (BackupManager::EndCheckpoint) and outcomes that arrive after it:
// docs/architecture.md, "The checkpoint boundary". Part of //engine:backup_manager_test.

#include <optional>
#include <string>
#include <vector>

#include "engine/backup_manager.h"
#include "engine/backup_manager_test_fixture.h"
#include "engine/checkpoint_ledger.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"

namespace sift_stream::engine {
namespace {

using State = BackupManager::State;
using backup_test::BackupManagerTest;
using backup_test::ExpectedBytes;
using backup_test::Message;
using backup_test::Messages;
using backup_test::ReadBytes;

// Every message of the files at `paths`, read as the re-ingestion task would.
std::vector<std::string> ReadMessages(const std::vector<std::string>& paths) {
  std::vector<std::string> messages;
  for (const std::string& path : paths) {
    auto contents = io::ReadPbfsFile(path, io::PbfsReadMode::kStrict);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (!contents.ok()) continue;
    for (std::string& m : contents->messages) messages.push_back(std::move(m));
  }
  return messages;
}

// The failure this pins: a message sent on stream k+1 sitting in k's files, deleted when k
// succeeds, lost when k+1 fails.
TEST_F(BackupManagerTest, MessagesAfterEndCheckpointNeverLandInTheEndedCheckpointsFiles) {
  auto manager = Make(Policy(4096, /*retain=*/false));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 300);  // A: checkpoint 1, several files.
  manager->EndCheckpoint(1);
  EXPECT_EQ(manager->metrics().current_checkpoint, 2u);
  AppendRange(*manager, 300, 600);  // B: checkpoint 2, while 1's last file closes.
  manager->Sync();
  Settle(*manager);

  // Checkpoint 1 is closed and waits for its outcome; nothing was deleted or handed over.
  const std::vector<std::string> first = FilesOf(1);
  const std::vector<std::string> second = FilesOf(2);
  ASSERT_GE(first.size(), 2u);
  ASSERT_GE(second.size(), 2u);
  EXPECT_EQ(first.size() + second.size(), Files().size());
  EXPECT_EQ(ReadAllClean(first), Messages(0, 300));
  std::string bytes;
  for (const std::string& name : first) bytes += ReadBytes(Path(name));
  EXPECT_EQ(bytes, ExpectedBytes(0, 300, 1024));
  EXPECT_EQ(ReadMessages(Paths(second)), Messages(300, 600));  // The last one is still open.
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 1u);
  EXPECT_TRUE(Seen(ControlKind::kReingestBackups).empty());
  EXPECT_EQ(manager->metrics().files_deleted, 0u);

  // Sift answers much later: 1 failed, 2 succeeded.
  Send(ControlKind::kCheckpointNeedsReingestion, 1);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  const std::vector<ControlMessage> reingest = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(reingest.size(), 1u);
  EXPECT_EQ(reingest[0].checkpoint, 1u);
  EXPECT_EQ(reingest[0].backup_files, Paths(first));
  EXPECT_EQ(ReadMessages(reingest[0].backup_files), Messages(0, 300));

  Send(ControlKind::kCheckpointComplete, 2);  // 2 is still open: it ends here.
  Settle(*manager);
  EXPECT_EQ(Files(), first);  // 2's files are gone, 1's wait for re-ingestion.
  EXPECT_EQ(manager->metrics().files_deleted, second.size());
  EXPECT_EQ(Seen(ControlKind::kReingestBackups).size(), 1u);
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 0u);
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
}

TEST_F(BackupManagerTest, AppendGoesOnWhileTheEndedCheckpointsLastFileCloses) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 50);
  Settle(*manager);  // Idle: nothing in flight, though the file holds unflushed bytes.
  ASSERT_EQ(manager->state(), State::kWriting);
  ASSERT_FALSE(manager->synced());
  manager->EndCheckpoint(1);
  // The last chunk is handed to the file at once; the flush, sync and close run meanwhile.
  EXPECT_EQ(manager->state(), State::kClosing);
  EXPECT_TRUE(manager->accepting());
  for (int i = 50; i < 60; ++i) ASSERT_TRUE(manager->Append(Message(i)).ok());
  manager->EndCheckpoint(2);
  Settle(*manager);
  ASSERT_EQ(Files(), (std::vector<std::string>{"s-000001-0001.pbfs", "s-000002-0001.pbfs"}));
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 50));
  EXPECT_EQ(ReadClean(Files()[1]), Messages(50, 60));
  EXPECT_EQ(ReadBytes(Path(Files()[1])), ExpectedBytes(50, 60, 1024));
}

TEST_F(BackupManagerTest, EndCheckpointWhileTheLastChunkWaitsForBuffersKeepsItInTheEndedOne) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true), 3000, /*buffer_bytes=*/4096);
  ASSERT_NE(manager, nullptr);
  int taken = 0;  // Without turning the ring, the file runs out of buffers.
  while (taken < 10000 && manager->Append(Message(taken)).ok()) ++taken;
  ASSERT_FALSE(manager->accepting());
  manager->EndCheckpoint(1);
  EXPECT_TRUE(absl::IsUnavailable(manager->Append("too early")));
  AppendRange(*manager, taken, taken + 50);
  manager->EndCheckpoint(2);
  Send(ControlKind::kCheckpointComplete, 1);
  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);
  ASSERT_EQ(Files(), (std::vector<std::string>{"s-000001-0001.pbfs", "s-000002-0001.pbfs"}));
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, taken));
  EXPECT_EQ(ReadClean(Files()[1]), Messages(taken, taken + 50));
}

TEST_F(BackupManagerTest, TwoEndedCheckpointsWaitTogetherAndResolveByNumber) {
  auto manager = Make(Policy(4096, /*retain=*/false));
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 200);
  manager->EndCheckpoint(1);
  AppendRange(*manager, 200, 400);
  manager->EndCheckpoint(2);
  AppendRange(*manager, 400, 420);  // Checkpoint 3 stays open.
  Settle(*manager);
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 2u);
  const std::vector<std::string> first = FilesOf(1);
  const std::vector<std::string> second = FilesOf(2);
  EXPECT_EQ(ReadAllClean(first), Messages(0, 200));
  EXPECT_EQ(ReadAllClean(second), Messages(200, 400));

  Send(ControlKind::kCheckpointNeedsReingestion, 2);  // Marks 2 only.
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  EXPECT_TRUE(FilesOf(1).empty());
  EXPECT_EQ(FilesOf(2), second);
  EXPECT_TRUE(Seen(ControlKind::kReingestBackups).empty());
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 1u);

  Send(ControlKind::kCheckpointComplete, 2);
  Settle(*manager);
  const std::vector<ControlMessage> reingest = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(reingest.size(), 1u);
  EXPECT_EQ(reingest[0].checkpoint, 2u);
  EXPECT_EQ(reingest[0].backup_files, Paths(second));
  EXPECT_EQ(ReadMessages(reingest[0].backup_files), Messages(200, 400));
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 0u);
  EXPECT_EQ(manager->metrics().current_checkpoint, 3u);
  Send(ControlKind::kCheckpointComplete, 2);  // A repeat: ignored.
  Settle(*manager);
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
}

TEST_F(BackupManagerTest, EndCheckpointWithoutMessagesMakesNoFilesAndStillTakesAnOutcome) {
  auto manager = Make(Policy(16 << 20, /*retain=*/true));
  ASSERT_NE(manager, nullptr);
  manager->EndCheckpoint(1);
  Settle(*manager);
  EXPECT_TRUE(Files().empty());
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 1u);
  Send(ControlKind::kCheckpointNeedsReingestion, 1);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  EXPECT_TRUE(Seen(ControlKind::kReingestBackups).empty());  // Nothing to re-ingest.

  // An empty checkpoint ending while the previous one's last file is still closing.
  AppendRange(*manager, 0, 30);
  manager->EndCheckpoint(2);
  manager->EndCheckpoint(3);
  AppendRange(*manager, 30, 40);
  manager->EndCheckpoint(4);
  Settle(*manager);
  EXPECT_EQ(Files(), (std::vector<std::string>{"s-000002-0001.pbfs", "s-000004-0001.pbfs"}));
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 30));
  EXPECT_EQ(ReadClean(Files()[1]), Messages(30, 40));
  EXPECT_EQ(manager->metrics().checkpoints_waiting, 3u);
  EXPECT_TRUE(Seen(ControlKind::kErrorSignal).empty());
}

TEST_F(BackupManagerTest, MismatchedEndCheckpointIsAnErrorAndKeepsTheFilesForReingestion) {
  auto manager = Make(Policy(16 << 20, /*retain=*/false), 256 << 10);
  ASSERT_NE(manager, nullptr);
  // Ahead: the caller ended checkpoints 1 and 2 in its count; we saw only this end.
  AppendRange(*manager, 0, 10);
  manager->EndCheckpoint(2);
  Settle(*manager);
  ASSERT_EQ(Seen(ControlKind::kErrorSignal).size(), 1u);
  EXPECT_EQ(manager->metrics().current_checkpoint, 3u);  // Numbering agrees again.
  AppendRange(*manager, 10, 20);
  manager->EndCheckpoint(3);
  for (uint64_t k : {1, 2, 3}) Send(ControlKind::kCheckpointComplete, k);
  Settle(*manager);
  std::vector<ControlMessage> reingest = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(reingest.size(), 1u);  // Checkpoint 1 held messages nobody acknowledged as such.
  EXPECT_EQ(reingest[0].checkpoint, 1u);
  EXPECT_EQ(ReadMessages(reingest[0].backup_files), Messages(0, 10));
  EXPECT_TRUE(FilesOf(3).empty());  // Checkpoint 3 was acknowledged under its own number.

  // Behind: a repeated end draws no boundary; checkpoint 4 keeps both sides, marked.
  AppendRange(*manager, 20, 30);
  manager->EndCheckpoint(3);
  AppendRange(*manager, 30, 40);
  manager->EndCheckpoint(4);
  Send(ControlKind::kCheckpointComplete, 4);
  Settle(*manager);
  EXPECT_EQ(Seen(ControlKind::kErrorSignal).size(), 2u);
  reingest = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(reingest.size(), 2u);
  EXPECT_EQ(reingest[1].checkpoint, 4u);
  EXPECT_EQ(ReadMessages(reingest[1].backup_files), Messages(20, 40));
  EXPECT_EQ(Files(), (std::vector<std::string>{"s-000001-0001.pbfs", "s-000004-0001.pbfs"}));
  EXPECT_EQ(manager->metrics().files_deleted, 1u);
}

TEST_F(BackupManagerTest, EndCheckpointAfterShutdownStillEndsAndResolvesTheCheckpoint) {
  auto manager = Make(Policy(16 << 20, /*retain=*/false), 256 << 10);
  ASSERT_NE(manager, nullptr);
  AppendRange(*manager, 0, 20);
  Send(ControlKind::kShutdown, 0);
  manager->EndCheckpoint(1);  // The ingestion task ends its checkpoint on shutdown too.
  Settle(*manager);
  EXPECT_EQ(manager->state(), State::kShutDown);
  ASSERT_EQ(Files(), std::vector<std::string>{"s-000001-0001.pbfs"});
  EXPECT_EQ(ReadClean(Files()[0]), Messages(0, 20));
  Send(ControlKind::kCheckpointNeedsReingestion, 1);
  Send(ControlKind::kCheckpointComplete, 1);
  Settle(*manager);
  ASSERT_EQ(Seen(ControlKind::kReingestBackups).size(), 1u);
  EXPECT_EQ(Files(), std::vector<std::string>{"s-000001-0001.pbfs"});
}

TEST(CheckpointLedgerTest, OutcomesResolveByNumberOnlyOnceTheFilesAreClosed) {
  CheckpointLedger ledger;
  ASSERT_TRUE(ledger.End(1).ok());
  ASSERT_TRUE(ledger.End(2).ok());
  EXPECT_EQ(ledger.writing(), 1u);
  EXPECT_EQ(ledger.open(), 3u);
  ASSERT_TRUE(ledger.Complete(2).ok());  // Out of order, and 2 is not closed yet.
  ASSERT_TRUE(ledger.NeedsReingestion(1).ok());
  EXPECT_FALSE(ledger.TakeDisposal().has_value());
  ledger.FinishWriting({"a1", "a2"});
  EXPECT_FALSE(ledger.TakeDisposal().has_value());  // 1 has no outcome yet.
  ledger.FinishWriting({"b1"});
  std::optional<CheckpointDisposal> second = ledger.TakeDisposal();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->checkpoint, 2u);
  EXPECT_FALSE(second->reingest);
  ASSERT_TRUE(ledger.Complete(1).ok());
  std::optional<CheckpointDisposal> first = ledger.TakeDisposal();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->files, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_TRUE(first->reingest);
  EXPECT_EQ(ledger.waiting(), 0u);
  EXPECT_TRUE(ledger.Complete(1).ok());  // A repeat.
  EXPECT_FALSE(ledger.NeedsReingestion(1).ok());  // Too late: already disposed of.
}

}  // namespace
}  // namespace sift_stream::engine
