#include "engine/control_message.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

ControlMessage Msg(ControlKind kind, uint64_t checkpoint = 0,
                   std::vector<std::string> files = {}) {
  ControlMessage message;
  message.kind = kind;
  message.checkpoint = checkpoint;
  message.backup_files = std::move(files);
  return message;
}

TEST(ControlBusTest, EverySubscriberSeesEveryMessageInPublicationOrder) {
  ControlBus bus;
  std::vector<std::string> a, b;
  bus.Subscribe([&](const ControlMessage& m) { a.push_back(ControlKindName(m.kind)); });
  bus.Subscribe([&](const ControlMessage& m) { b.push_back(ControlKindName(m.kind)); });
  bus.Publish(Msg(ControlKind::kBackupFull, 1));
  bus.Publish(Msg(ControlKind::kCheckpointComplete, 1));
  EXPECT_TRUE(a.empty());  // Nothing is delivered inside Publish.
  EXPECT_EQ(bus.Deliver(), 2);
  EXPECT_EQ(a, (std::vector<std::string>{"BackupFull", "CheckpointComplete"}));
  EXPECT_EQ(a, b);
}

TEST(ControlBusTest, MessagesPublishedDuringDeliveryComeAfterTheCurrentOne) {
  ControlBus bus;
  std::vector<std::string> seen;
  bus.Subscribe([&](const ControlMessage& m) {
    seen.push_back(std::string("first:") + ControlKindName(m.kind));
    if (m.kind == ControlKind::kCheckpointNeedsReingestion) {
      bus.Publish(Msg(ControlKind::kReingestBackups, m.checkpoint, {"a.pbfs"}));
      EXPECT_EQ(bus.Deliver(), 0);  // Not re-entrant.
    }
  });
  bus.Subscribe([&](const ControlMessage& m) {
    seen.push_back(std::string("second:") + ControlKindName(m.kind));
  });
  bus.Publish(Msg(ControlKind::kCheckpointNeedsReingestion, 3));
  EXPECT_EQ(bus.Deliver(), 2);
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "first:CheckpointNeedsReingestion", "second:CheckpointNeedsReingestion",
                      "first:ReingestBackups", "second:ReingestBackups"}));
}

TEST(ControlBusDeathTest, OverflowingTheBoundIsABug) {
  ControlBus bus(2);
  bus.Publish(Msg(ControlKind::kShutdown));
  bus.Publish(Msg(ControlKind::kShutdown));
  EXPECT_DEATH(bus.Publish(Msg(ControlKind::kShutdown)), "control bus overflow");
}

}  // namespace
}  // namespace sift_stream::engine
