// FormatProgress: what a person (bar) and a log (plain line) see.
#include "tools/stream/progress.h"

#include "gtest/gtest.h"

namespace sift_stream::tools {
namespace {

TEST(FormatProgress, UnknownSizeShowsNoPercentOrEta) {
  EXPECT_EQ(FormatProgress({12345, 999, 0, absl::Seconds(2)}, true), "12,345 rows  6,172 rows/s");
}

TEST(FormatProgress, KnownSizeShowsBarPercentAndEta) {
  EXPECT_EQ(FormatProgress({1000, 250, 1000, absl::Seconds(10)}, true),
            "1,000 rows  100 rows/s  [#####...............]  25%  ETA 0:30");
}

TEST(FormatProgress, PlainLinesHaveNoBar) {
  EXPECT_EQ(FormatProgress({10, 500, 1000, absl::Seconds(1)}, false),
            "10 rows  10 rows/s  50%  ETA 0:01");
}

TEST(FormatProgress, ZeroElapsedDoesNotDivideByZero) {
  EXPECT_EQ(FormatProgress({0, 0, 1000, absl::ZeroDuration()}, true),
            "0 rows  0 rows/s  [....................]  0%");
}

}  // namespace
}  // namespace sift_stream::tools
