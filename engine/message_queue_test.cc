#include "engine/message_queue.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

TEST(MessageQueueTest, MessagesComeOutInPushOrder) {
  MessageQueue queue(8);
  for (int i = 0; i < 5; ++i) {
    std::string m = absl::StrCat("m", i);
    ASSERT_TRUE(queue.Push(m).ok());
    EXPECT_TRUE(m.empty());
  }
  std::vector<std::string> batch;
  ASSERT_EQ(queue.PopBatch(batch, 3), 3u);
  EXPECT_EQ(batch[0], "m0");
  EXPECT_EQ(batch[2], "m2");
  ASSERT_EQ(queue.PopBatch(batch, 10), 2u);
  EXPECT_EQ(batch[0], "m3");
  EXPECT_EQ(batch[1], "m4");
  EXPECT_EQ(queue.PopBatch(batch, 10), 0u);
}

TEST(MessageQueueTest, FullQueueRefusesWithoutTakingTheMessage) {
  MessageQueue queue(2);
  std::string a = "a", b = "b", c = "c";
  ASSERT_TRUE(queue.Push(a).ok());
  ASSERT_TRUE(queue.Push(b).ok());
  absl::Status status = queue.Push(c);
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_EQ(c, "c");  // Still the caller's.
  EXPECT_EQ(queue.refused(), 1u);
  std::vector<std::string> batch;
  ASSERT_EQ(queue.PopBatch(batch, 1), 1u);
  EXPECT_TRUE(queue.Push(c).ok());  // Room again.
}

TEST(MessageQueueTest, TryPushOnAFullOrClosedQueueHandsTheMessageBack) {
  MessageQueue queue(1);
  std::string a = "a", b = "b";
  ASSERT_TRUE(queue.TryPush(a).ok());
  EXPECT_TRUE(a.empty());
  absl::Status full = queue.TryPush(b);
  EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
  EXPECT_EQ(b, "b");
  EXPECT_EQ(queue.refused(), 1u);
  queue.Close();
  EXPECT_TRUE(absl::IsFailedPrecondition(queue.TryPush(b)));
  EXPECT_EQ(b, "b");
  std::vector<std::string> batch;
  ASSERT_EQ(queue.PopBatch(batch, 4), 1u);
  EXPECT_EQ(batch[0], "a");
}

// Two producers that each refuse to wait: every message is either taken exactly once or
// still in the producer's hands, and refusals (full or busy) are all counted.
TEST(MessageQueueTest, TryPushProducersLoseNothingAndKeepTheirOwnOrder) {
  constexpr int kProducers = 2;
  constexpr int kPerProducer = 50000;
  MessageQueue queue(64);
  std::atomic<int64_t> refused{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::string m;
      for (int i = 0; i < kPerProducer;) {
        m = absl::StrCat(p, ":", i);
        absl::Status s = queue.TryPush(m);
        if (s.ok()) {
          ++i;
          continue;
        }
        ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
        ASSERT_EQ(m, absl::StrCat(p, ":", i));
        ++refused;
        std::this_thread::yield();
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  std::vector<std::string> batch;
  int64_t received = 0;
  while (received < kProducers * kPerProducer) {
    const size_t n = queue.PopBatch(batch, 16);
    for (size_t k = 0; k < n; ++k) {
      const size_t colon = batch[k].find(':');
      const int p = std::stoi(batch[k].substr(0, colon));
      ASSERT_EQ(std::stoi(batch[k].substr(colon + 1)), next[p]) << "producer " << p;
      ++next[p];
    }
    received += n;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(queue.pushed(), static_cast<uint64_t>(kProducers * kPerProducer));
  EXPECT_EQ(static_cast<int64_t>(queue.refused()), refused.load());
}

TEST(MessageQueueTest, RefuseIfFullSaysWhatPushWouldOnceFullAndClearsOnPop) {
  MessageQueue queue(2);
  EXPECT_TRUE(queue.RefuseIfFull().ok());
  for (int i = 0; i < 2; ++i) {
    std::string m = "m";
    ASSERT_TRUE(queue.Push(m).ok());
  }
  std::string third = "third";
  const absl::Status pushed = queue.Push(third);
  const absl::Status early = queue.RefuseIfFull();
  EXPECT_TRUE(absl::IsResourceExhausted(early)) << early;
  EXPECT_EQ(early, pushed);
  queue.SetFullReason("the backup disk is full");
  EXPECT_TRUE(absl::StrContains(queue.RefuseIfFull().message(), "the backup disk is full"));
  EXPECT_EQ(queue.refused(), 3u);
  std::vector<std::string> batch;
  ASSERT_EQ(queue.PopBatch(batch, 1), 1u);
  EXPECT_TRUE(queue.RefuseIfFull().ok());
}

TEST(MessageQueueTest, WaitForRoomSleepsUntilTheQueueIsHalfEmpty) {
  MessageQueue queue(8);
  for (int i = 0; i < 8; ++i) {
    std::string m = "m";
    ASSERT_TRUE(queue.Push(m).ok());
  }
  const absl::Time start = absl::Now();
  EXPECT_FALSE(queue.WaitForRoom(absl::Milliseconds(50)));  // Nobody pops: times out.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    EXPECT_TRUE(queue.WaitForRoom(absl::Seconds(30)));
    woke = true;
  });
  std::vector<std::string> batch;
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(queue.PopBatch(batch, 2), 2u);  // 6 of 8: still more than half full.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(woke.load());
  ASSERT_EQ(queue.PopBatch(batch, 2), 2u);  // 4 of 8: the waiter goes.
  waiter.join();
  EXPECT_TRUE(woke.load());
  for (int i = 0; i < 4; ++i) {
    std::string m = "m";
    ASSERT_TRUE(queue.Push(m).ok());
  }
  std::thread closed_waiter([&] {
    EXPECT_FALSE(queue.WaitForRoom(absl::Seconds(30)));  // Close ends the wait: no room.
  });
  absl::SleepFor(absl::Milliseconds(50));
  queue.Close();
  closed_waiter.join();
}

TEST(MessageQueueTest, ClosedQueueRefusesPushesButDrains) {
  MessageQueue queue(4);
  std::string a = "a", b = "b";
  ASSERT_TRUE(queue.Push(a).ok());
  queue.Close();
  EXPECT_TRUE(absl::IsFailedPrecondition(queue.Push(b)));
  std::vector<std::string> batch;
  EXPECT_EQ(queue.PopBatch(batch, 4), 1u);
}

TEST(MessageQueueTest, BuffersAreRecycledNotReallocated) {
  MessageQueue queue(4);
  std::vector<std::string> batch;
  std::string buffer;
  buffer.reserve(1000);
  for (int round = 0; round < 100; ++round) {
    buffer.assign(900, 'x');
    ASSERT_TRUE(queue.Push(buffer).ok());
    ASSERT_EQ(queue.PopBatch(batch, 1), 1u);
    // Once every slot has carried a message, the buffer handed back is a used one.
    if (round >= 5) {
      EXPECT_GE(buffer.capacity(), 900u) << round;
    }
  }
}

TEST(MessageQueueTest, FourProducersLoseNothingAndKeepTheirOwnOrder) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 50000;
  MessageQueue queue(1024);
  std::atomic<int64_t> refused{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::string m;
      for (int i = 0; i < kPerProducer;) {
        m = absl::StrCat(p, ":", i);
        if (queue.Push(m).ok()) {
          ++i;
        } else {
          ++refused;
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  std::vector<std::string> batch;
  int64_t received = 0;
  while (received < kProducers * kPerProducer) {
    const size_t n = queue.PopBatch(batch, 256);
    for (size_t k = 0; k < n; ++k) {
      const size_t colon = batch[k].find(':');
      const int p = std::stoi(batch[k].substr(0, colon));
      const int i = std::stoi(batch[k].substr(colon + 1));
      ASSERT_EQ(i, next[p]) << "producer " << p << " out of order";
      ++next[p];
    }
    received += n;
    if (n == 0) std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(received, kProducers * kPerProducer);
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(static_cast<int64_t>(queue.refused()), refused.load());
}

}  // namespace
}  // namespace sift_stream::engine
