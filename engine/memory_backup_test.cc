// Tests of the memory ring alone, on a bus the test drives: what is freed, what is handed to
// re-ingestion, what is refused and what is counted lost.

#include "engine/memory_backup.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/control_message.h"
#include "gtest/gtest.h"
#include "io/pbfs_reader.h"

namespace sift_stream::engine {
namespace {

class MemoryBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_.Subscribe([this](const ControlMessage& message) { seen_.push_back(message); });
  }

  void Publish(ControlKind kind, uint64_t checkpoint) {
    ControlMessage message;
    message.kind = kind;
    message.checkpoint = checkpoint;
    bus_.Publish(std::move(message));
    bus_.Deliver();
  }

  std::vector<ControlMessage> Seen(ControlKind kind) {
    bus_.Deliver();
    std::vector<ControlMessage> out;
    for (const ControlMessage& m : seen_) {
      if (m.kind == kind) out.push_back(m);
    }
    return out;
  }

  ControlBus bus_;
  std::vector<ControlMessage> seen_;
};

std::vector<std::string> MessagesOf(const ControlMessage& job) {
  std::vector<std::string> out;
  for (const auto& chunk : job.memory_chunks) {
    auto reader = io::PbfsReader::FromBytes(chunk->bytes(), io::PbfsReadMode::kStrict);
    absl::string_view message;
    while (reader->Next(&message)) out.emplace_back(message);
    EXPECT_EQ(reader->report().end, io::PbfsEnd::kClean);
  }
  return out;
}

TEST_F(MemoryBackupTest, AcknowledgedCheckpointFreesItsMemoryAndLosesNothing) {
  MemoryBackup memory(bus_, MemoryBackupPolicy());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(memory.Append(absl::StrCat("m", i)).ok());
  EXPECT_GT(memory.accounts().bytes_held(), 100u * 6);
  EXPECT_EQ(memory.accounts().messages_held(), 100u);
  memory.EndCheckpoint(1);
  ASSERT_TRUE(memory.Append("next").ok());  // Checkpoint 2: not freed by 1's outcome.
  Publish(ControlKind::kCheckpointComplete, 1);
  EXPECT_EQ(memory.accounts().messages_held(), 1u);
  EXPECT_EQ(memory.accounts().bytes_held(), 4u + 4u + 12u);
  EXPECT_EQ(memory.accounts().messages_lost(), 0u);
  EXPECT_TRUE(Seen(ControlKind::kReingestBackups).empty());
  EXPECT_EQ(memory.oldest_held_checkpoint(), 2u);
}

TEST_F(MemoryBackupTest, FailedCheckpointGoesToReingestionWholeAndInOrderAcrossChunks) {
  MemoryBackupPolicy policy;
  policy.chunk_bytes = 256;  // Many chunks.
  MemoryBackup memory(bus_, policy);
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back(absl::StrCat("message-", i));
    ASSERT_TRUE(memory.Append(sent.back()).ok());
  }
  memory.EndCheckpoint(1);
  Publish(ControlKind::kCheckpointNeedsReingestion, 1);
  Publish(ControlKind::kCheckpointComplete, 1);
  std::vector<ControlMessage> jobs = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].checkpoint, 1u);
  EXPECT_GT(jobs[0].memory_chunks.size(), 5u);
  EXPECT_EQ(MessagesOf(jobs[0]), sent);
  // Held until re-ingestion lets go of the chunks; acknowledged ones are not lost.
  EXPECT_EQ(memory.accounts().messages_held(), 200u);
  for (auto& chunk : jobs[0].memory_chunks) chunk->MarkAcknowledged();
  jobs.clear();
  seen_.clear();
  EXPECT_EQ(memory.accounts().bytes_held(), 0u);
  EXPECT_EQ(memory.accounts().messages_lost(), 0u);
}

TEST_F(MemoryBackupTest, ChunksDroppedUnacknowledgedAreCountedLost) {
  MemoryBackup memory(bus_, MemoryBackupPolicy());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(memory.Append("x").ok());
  memory.EndCheckpoint(1);
  Publish(ControlKind::kCheckpointNeedsReingestion, 1);
  Publish(ControlKind::kCheckpointComplete, 1);
  ASSERT_EQ(Seen(ControlKind::kReingestBackups).size(), 1u);
  seen_.clear();  // Re-ingestion gave up: the last references go.
  EXPECT_EQ(memory.accounts().messages_held(), 0u);
  EXPECT_EQ(memory.accounts().messages_lost(), 7u);
  EXPECT_EQ(memory.accounts().first_lost_checkpoint(), 1u);
}

// A checkpoint that failed only because the full live queue dropped some of its messages:
// Sift has the rest, so if re-ingestion gives up only the dropped ones count as lost.
TEST_F(MemoryBackupTest, PartialJobGivenUpLosesOnlyTheMessagesSiftDidNotAcknowledgeLive) {
  MemoryBackupPolicy policy;
  policy.chunk_bytes = 64;  // Several chunks, so the ranges straddle chunk boundaries.
  MemoryBackup memory(bus_, policy);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(memory.Append(absl::StrCat("message-", i)).ok());
  memory.EndCheckpoint(1);
  ControlMessage partial;
  partial.kind = ControlKind::kCheckpointNeedsReingestion;
  partial.checkpoint = 1;
  partial.only_messages = {{3, 9}, {20, 21}, {35, 40}};  // 6 + 1 + 5 dropped from the queue.
  bus_.Publish(std::move(partial));
  bus_.Deliver();
  Publish(ControlKind::kCheckpointComplete, 1);
  std::vector<ControlMessage> jobs = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(jobs.size(), 1u);
  ASSERT_GT(jobs[0].memory_chunks.size(), 3u);
  jobs.clear();
  seen_.clear();  // Re-ingestion gave up: the last references go.
  EXPECT_EQ(memory.accounts().messages_held(), 0u);
  EXPECT_EQ(memory.accounts().messages_lost(), 12u);
  EXPECT_EQ(memory.accounts().first_lost_checkpoint(), 1u);
}

TEST_F(MemoryBackupTest, FullRingRefusesNamingItselfTakesNothingAndAsksToEndTheCheckpoint) {
  MemoryBackupPolicy policy;
  policy.max_bytes = 1000;
  policy.checkpoint_max_bytes = 1000000;  // Only fullness asks for the end here.
  MemoryBackup memory(bus_, policy);
  const std::string message(90, 'm');
  int taken = 0;
  absl::Status status;
  while ((status = memory.Append(message)).ok()) ++taken;
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "memory backup is full")) << status;
  EXPECT_EQ(taken, 10);  // 12 + 10 * 94 = 952; one more would be 1046.
  EXPECT_EQ(memory.state(), MemoryBackup::State::kFull);
  EXPECT_EQ(memory.accounts().messages_held(), 10u);
  EXPECT_FALSE(memory.Append(message).ok());
  std::vector<ControlMessage> full = Seen(ControlKind::kBackupFull);
  ASSERT_EQ(full.size(), 1u) << "once per checkpoint";
  EXPECT_EQ(full[0].checkpoint, 1u);
  // Sift acknowledges checkpoint 1: room again.
  memory.EndCheckpoint(1);
  Publish(ControlKind::kCheckpointComplete, 1);
  EXPECT_TRUE(memory.HasRoomFor(message.size()));
  EXPECT_TRUE(memory.Append(message).ok());
  EXPECT_EQ(memory.state(), MemoryBackup::State::kTaking);
}

TEST_F(MemoryBackupTest, CheckpointReachingItsShareOfTheRingIsEndedEarly) {
  MemoryBackupPolicy policy;
  policy.max_bytes = 4000;  // checkpoint_max_bytes defaults to 1000.
  MemoryBackup memory(bus_, policy);
  const std::string message(90, 'm');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(memory.Append(message).ok());
  EXPECT_TRUE(Seen(ControlKind::kBackupFull).empty());
  ASSERT_TRUE(memory.Append(message).ok());  // 1046 bytes.
  ASSERT_EQ(Seen(ControlKind::kBackupFull).size(), 1u);
  memory.EndCheckpoint(1);
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(memory.Append(message).ok());
  std::vector<ControlMessage> full = Seen(ControlKind::kBackupFull);
  ASSERT_EQ(full.size(), 2u);
  EXPECT_EQ(full[1].checkpoint, 2u);
}

TEST_F(MemoryBackupTest, WrongCheckpointNumberIsSignalledAndItsMessagesAreKeptNotFreed) {
  MemoryBackup memory(bus_, MemoryBackupPolicy());
  ASSERT_TRUE(memory.Append("a").ok());
  memory.EndCheckpoint(3);  // 1 is open: 1 ends marked, 2 and 3 end empty.
  EXPECT_EQ(Seen(ControlKind::kErrorSignal).size(), 1u);
  Publish(ControlKind::kCheckpointComplete, 1);
  std::vector<ControlMessage> jobs = Seen(ControlKind::kReingestBackups);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(MessagesOf(jobs[0]), std::vector<std::string>{"a"});
}

TEST_F(MemoryBackupTest, ChunksHeldByJobsCountUntilDroppedThenOnlyUnacknowledgedOnesAreLost) {
  {
    MemoryBackup memory(bus_, MemoryBackupPolicy());
    ASSERT_TRUE(memory.Append("a").ok());
    memory.EndCheckpoint(1);
    ASSERT_TRUE(memory.Append("b").ok());
    ASSERT_TRUE(memory.Append("c").ok());
    EXPECT_EQ(memory.oldest_held_checkpoint(), 1u);
    Publish(ControlKind::kCheckpointNeedsReingestion, 1);
    Publish(ControlKind::kCheckpointComplete, 1);
    std::vector<ControlMessage> jobs = Seen(ControlKind::kReingestBackups);
    ASSERT_EQ(jobs.size(), 1u);
    jobs[0].memory_chunks[0]->MarkAcknowledged();
    EXPECT_EQ(memory.accounts().messages_held(), 3u);
    seen_.clear();
    jobs.clear();
    EXPECT_EQ(memory.accounts().messages_lost(), 0u);
    ASSERT_TRUE(memory.Append("d").ok());
    // Keep a chunk of checkpoint 2 alive past the backup, as a queued job would.
    memory.EndCheckpoint(2);
    Publish(ControlKind::kCheckpointNeedsReingestion, 2);
    Publish(ControlKind::kCheckpointComplete, 2);
    jobs = Seen(ControlKind::kReingestBackups);
    ASSERT_EQ(jobs.size(), 1u);
    ASSERT_TRUE(memory.Append("e").ok());  // Checkpoint 3, open at destruction.
    seen_.clear();
    std::vector<std::shared_ptr<MemoryChunk>> kept = jobs[0].memory_chunks;
    jobs.clear();
    EXPECT_EQ(memory.accounts().messages_held(), 4u);  // b, c, d, e
    kept.clear();
    EXPECT_EQ(memory.accounts().messages_lost(), 3u);  // b, c, d
  }
}

}  // namespace
}  // namespace sift_stream::engine
