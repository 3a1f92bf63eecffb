#include "io/wakeup.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace sift_stream::io {
namespace {

struct Counter {
  int wakes = 0;
  void OnWake(Completion&) { ++wakes; }
};

TEST(WakeupTest, NotifyFromAnotherThreadEndsABlockingWait) {
  auto ring = Ring::Create(16);
  ASSERT_TRUE(ring.ok());
  Counter counter;
  auto wakeup = Wakeup::Create(**ring, Bind<Counter, &Counter::OnWake>(&counter));
  ASSERT_TRUE(wakeup.ok()) << wakeup.status();
  std::atomic<int> published{0};
  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    published.store(42, std::memory_order_relaxed);
    (*wakeup)->Notify();
  });
  const absl::Time start = absl::Now();
  while (counter.wakes == 0 && absl::Now() - start < absl::Seconds(10)) {
    ASSERT_TRUE((*ring)->RunOnce(absl::Seconds(10)).ok());
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // Not the 10 s wait bound.
  EXPECT_EQ(counter.wakes, 1);
  EXPECT_EQ(published.load(std::memory_order_relaxed), 42);
  producer.join();
  (*wakeup)->Disarm();
  ASSERT_TRUE(RunUntil(**ring, [&] { return !(*wakeup)->armed(); }, absl::Seconds(5)).ok());
}

TEST(WakeupTest, NotificationsWhilePendingCoalesceIntoOneWake) {
  auto ring = Ring::Create(16);
  ASSERT_TRUE(ring.ok());
  Counter counter;
  auto wakeup = Wakeup::Create(**ring, Bind<Counter, &Counter::OnWake>(&counter));
  ASSERT_TRUE(wakeup.ok());
  for (int i = 0; i < 1000; ++i) (*wakeup)->Notify();
  ASSERT_TRUE(RunUntil(**ring, [&] { return counter.wakes > 0; }, absl::Seconds(5)).ok());
  ASSERT_TRUE((*ring)->RunOnce(absl::Milliseconds(20)).ok());
  EXPECT_EQ(counter.wakes, 1);
  EXPECT_EQ((*wakeup)->wakeups(), 1u);
  // After a wake, the next Notify reaches the kernel again.
  (*wakeup)->Notify();
  ASSERT_TRUE(RunUntil(**ring, [&] { return counter.wakes == 2; }, absl::Seconds(5)).ok());
  (*wakeup)->Disarm();
  ASSERT_TRUE(RunUntil(**ring, [&] { return !(*wakeup)->armed(); }, absl::Seconds(5)).ok());
  EXPECT_EQ(counter.wakes, 2);  // Disarming does not call on_wake.
}

}  // namespace
}  // namespace sift_stream::io
