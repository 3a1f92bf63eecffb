// The shared pieces of the tools' progress lines: what a person reads must be exact.
#include "tools/progress_text.h"

#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

TEST(ThousandsTest, GroupsByThreeFromTheRight) {
  EXPECT_EQ(Thousands(0), "0");
  EXPECT_EQ(Thousands(999), "999");
  EXPECT_EQ(Thousands(1000), "1,000");
  EXPECT_EQ(Thousands(12345678), "12,345,678");
  EXPECT_EQ(Thousands(18446744073709551615u), "18,446,744,073,709,551,615");
}

TEST(ProgressBarTest, FillsInProportionAndClampsWhatIsOutOfRange) {
  EXPECT_EQ(ProgressBar(0.25, 8), "[##......]");
  EXPECT_EQ(ProgressBar(1.0, 4), "[####]");
  EXPECT_EQ(ProgressBar(-0.5, 4), "[....]");
  EXPECT_EQ(ProgressBar(7.0, 4), "[####]");  // More read than the total said: a grown file.
}

TEST(EtaClockTest, ExtrapolatesTheRateSoFar) {
  EXPECT_EQ(EtaClock(absl::Seconds(10), 0.25), "0:30");
  EXPECT_EQ(EtaClock(absl::Seconds(3600), 0.5), "1:00:00");
  EXPECT_EQ(EtaClock(absl::Seconds(5), 1.0), "0:00");
}

TEST(EtaClockTest, SaysNothingBeforeThereIsARateToGoBy) {
  EXPECT_EQ(EtaClock(absl::ZeroDuration(), 0.5), "");
  EXPECT_EQ(EtaClock(absl::Seconds(3), 0.0), "");
}

}  // namespace
}  // namespace sift_stream::tools
