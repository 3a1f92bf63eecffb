// TrySend, end to end against the fake Sift: it never waits, a refused message comes back to
// the caller intact (a request object, or a FlowWriter's row), and a caller who re-sends what
// was refused gets every message committed exactly once as counted.

#include <deque>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/flow_writer.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

using Request = sift::ingest::v1::IngestWithConfigDataStreamRequest;

constexpr int64_t kEpochMicros = 1764000000000000;

Request Make(int i) {
  Request request;
  request.set_flow("f");
  const int64_t micros = kEpochMicros + i;
  request.mutable_timestamp()->set_seconds(micros / 1000000);
  request.mutable_timestamp()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  request.add_channel_values()->set_double_(i);
  request.add_channel_values()->set_double_(-i);
  return request;
}

// Slow enough that producers outrun it: the live queue overflows and checkpoints are
// re-ingested, while the backup queue in front of the disk is tiny.
FaultPlan SlowAndHangingServer() {
  FaultPlan plan;
  plan.slow_reader_every = 500;
  plan.slow_reader_sleep = absl::Milliseconds(5);
  plan.hang_at_end = {3, true};
  plan.hang_at_end_for = absl::Milliseconds(300);
  return plan;
}

TEST_F(SiftStreamTest, TrySendRefusalsComeBackIntactAndResentLoseNothing) {
  sift_->SetFaults(SlowAndHangingServer());
  auto stream = Builder().DataCapacity(16).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  constexpr int kMessages = 20000;
  std::deque<std::pair<int, Request>> backlog;  // The caller's: refused, oldest first.
  int64_t refused = 0;
  absl::Duration slowest = absl::ZeroDuration();
  auto drain = [&] {
    while (!backlog.empty()) {
      auto& [i, request] = backlog.front();
      const absl::Time start = absl::Now();
      absl::Status s = (*stream)->TrySend(request);
      slowest = std::max(slowest, absl::Now() - start);
      if (s.ok()) {
        backlog.pop_front();
        continue;
      }
      ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
      ++refused;
      Request expected = Make(i);
      expected.set_ingestion_config_id((*stream)->ingestion_config_id());
      ASSERT_EQ(request.SerializeAsString(), expected.SerializeAsString())
          << "refused request " << i << " was changed";
      return;
    }
  };
  for (int i = 0; i < kMessages; ++i) {
    backlog.emplace_back(i, Make(i));
    drain();
    if (::testing::Test::HasFatalFailure()) return;
  }
  while (!backlog.empty()) {  // What is still refused is re-sent until taken.
    drain();
    if (::testing::Test::HasFatalFailure()) return;
    absl::SleepFor(absl::Microseconds(200));
  }
  EXPECT_GT(refused, 0) << "a 16-message queue never filled: the test proves nothing";
  // Generous for sanitizers on a shared 2-core machine; a TrySend that waited for room
  // would take as long as the disk and the slow server make it.
  EXPECT_LT(slowest, absl::Milliseconds(500));
  sift_->SetFaults(FaultPlan());  // Let re-ingestion finish quickly.
  absl::Status finished = (*stream)->Finish(absl::Seconds(60));
  EXPECT_TRUE(finished.ok()) << finished;
  const SiftStreamMetrics m = (*stream)->Metrics();
  EXPECT_EQ(m.messages_sent, static_cast<uint64_t>(kMessages));
  EXPECT_EQ(m.messages_refused, static_cast<uint64_t>(refused));
  ExpectNothingLost(kMessages);
  std::printf("refused %lld, slowest TrySend %s\n", static_cast<long long>(refused),
              absl::FormatDuration(slowest).c_str());
}

TEST_F(SiftStreamTest, FlowWriterTrySendKeepsTheRefusedRowUntilItGoesThrough) {
  sift_->SetFaults(SlowAndHangingServer());
  auto stream = Builder().DataCapacity(16).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<FlowWriter> writer = (*stream)->Flow("f");
  ASSERT_TRUE(writer.ok()) << writer.status();
  constexpr int kMessages = 20000;
  int64_t refused = 0;
  for (int i = 0; i < kMessages; ++i) {
    const absl::Time t = absl::FromUnixMicros(kEpochMicros + i);
    writer->SetDouble(0, i).SetDouble(1, -i);
    const std::string row = *writer->Encode(t);
    for (;;) {
      absl::Status s = writer->TrySend(t);
      if (s.ok()) break;
      ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
      ++refused;
      absl::StatusOr<std::string> kept = writer->Encode(t);
      ASSERT_TRUE(kept.ok()) << kept.status();
      ASSERT_EQ(*kept, row) << "the refused row of message " << i << " was not kept";
      absl::SleepFor(absl::Microseconds(200));
    }
  }
  EXPECT_GT(refused, 0) << "a 16-message queue never filled: the test proves nothing";
  // Sent rows are cleared: the next message starts with every channel empty.
  const std::string empty_row = *writer->Encode(absl::FromUnixMicros(kEpochMicros));
  writer->SetDouble(0, 1);
  ASSERT_NE(*writer->Encode(absl::FromUnixMicros(kEpochMicros)), empty_row);
  writer->SetEmpty(0);
  sift_->SetFaults(FaultPlan());
  absl::Status finished = (*stream)->Finish(absl::Seconds(60));
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ((*stream)->Metrics().messages_sent, static_cast<uint64_t>(kMessages));
  ExpectNothingLost(kMessages);
}

TEST_F(SiftStreamTest, TrySendAfterFinishRefusesAndLeavesTheRequestWithTheCaller) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  Request request = Make(7);
  ASSERT_TRUE((*stream)->TrySend(request).ok());
  EXPECT_EQ(request.channel_values(0).double_(), 7) << "an accepted request stays the caller's";
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  Request late = Make(8);
  absl::Status s = (*stream)->TrySend(late);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(late.channel_values(1).double_(), -8);
  EXPECT_EQ(late.flow(), "f");
  Request wrong = Make(9);
  wrong.mutable_channel_values()->RemoveLast();
  EXPECT_TRUE(absl::IsInvalidArgument((*stream)->TrySend(wrong)));
  EXPECT_EQ(wrong.channel_values_size(), 1);
  ExpectNothingLost(1);
}

}  // namespace
}  // namespace sift_stream
