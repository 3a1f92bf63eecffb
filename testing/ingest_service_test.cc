// Every fault of the fake ingest service, seen the way a client sees it: through a real gRPC
// server on loopback and a sync client stream, checking the status Finish() returns and what
// the recorder counts as committed and uncommitted. Validation: ingest_validation_test.cc.

#include "testing/ingest_service.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/ingest_test_server.h"

namespace sift_stream::testing::ingest_test {
namespace {

using ::sift::ingest::v1::IngestWithConfigDataStreamResponse;

TEST(IngestServiceTest, OkStreamCommitsEveryMessage) {
  IngestTestServer server;
  const std::vector<IngestRequest> requests = Vehicles(0, 20);
  ASSERT_TRUE(server.Send(requests).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.streams_completed, 1);
  EXPECT_EQ(stats.messages_received, 20);
  EXPECT_EQ(stats.committed_messages, 20);
  EXPECT_EQ(stats.uncommitted_messages, 0);
  EXPECT_EQ(stats.invalid_messages, 0);
  EXPECT_GT(stats.bytes_received, 20 * 20);
  EXPECT_TRUE(server.Committed(requests[19]));
}

TEST(IngestServiceTest, EndStreamTwoAfterFiveMessagesWithUnavailable) {
  IngestTestServer server;
  FaultPlan plan;
  plan.end_stream = {/*nth=*/2, /*every=*/false};
  plan.end_stream_after_messages = 5;
  plan.end_stream_code = grpc::StatusCode::UNAVAILABLE;
  server.SetFaults(plan);

  EXPECT_TRUE(server.Send(Vehicles(0, 20)).ok());
  const std::vector<IngestRequest> second = Vehicles(100, 20);
  const grpc::Status status = server.Send(second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(server.Send(Vehicles(200, 20)).ok());

  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.streams_completed, 2);
  EXPECT_EQ(stats.streams_failed, 1);
  EXPECT_EQ(stats.messages_received, 45);  // Stream 2 stopped reading after its 5th.
  EXPECT_EQ(stats.committed_messages, 40);
  EXPECT_EQ(stats.uncommitted_messages, 5);
  EXPECT_FALSE(server.Committed(second[0]));
  EXPECT_EQ(server.ArrivalCount(second[4]), 1);
  EXPECT_EQ(server.ArrivalCount(second[5]), 0);
}

TEST(IngestServiceTest, EverySecondStreamEndsEarly) {
  IngestTestServer server;
  FaultPlan plan;
  plan.end_stream = {/*nth=*/2, /*every=*/true};
  plan.end_stream_after_messages = 3;
  plan.end_stream_code = grpc::StatusCode::ABORTED;
  server.SetFaults(plan);
  for (int stream = 1; stream <= 4; ++stream) {
    const grpc::Status status = server.Send(Vehicles(stream * 100, 10));
    EXPECT_EQ(status.error_code(),
              stream % 2 == 0 ? grpc::StatusCode::ABORTED : grpc::StatusCode::OK)
        << "stream " << stream;
  }
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.committed_messages, 20);
  EXPECT_EQ(stats.uncommitted_messages, 6);
}

TEST(IngestServiceTest, FailAtEndReadsEverythingButCommitsNothing) {
  IngestTestServer server;
  FaultPlan plan;
  plan.fail_at_end = {/*nth=*/1, /*every=*/false};
  plan.fail_at_end_code = grpc::StatusCode::INTERNAL;
  server.SetFaults(plan);
  const std::vector<IngestRequest> requests = Vehicles(0, 10);
  EXPECT_EQ(server.Send(requests).error_code(), grpc::StatusCode::INTERNAL);
  IngestStats stats = server.Stats();
  EXPECT_EQ(stats.messages_received, 10);
  EXPECT_EQ(stats.uncommitted_messages, 10);

  // The client's retry of the same data commits it, with no committed duplicates.
  EXPECT_TRUE(server.Send(requests).ok());
  stats = server.Stats();
  EXPECT_EQ(stats.committed_messages, 10);
  EXPECT_EQ(stats.duplicate_messages, 10);
  EXPECT_EQ(stats.committed_duplicates, 0);
}

TEST(IngestServiceTest, HangAtEndOutlastsTheClientDeadline) {
  IngestTestServer server;
  FaultPlan plan;
  plan.hang_at_end = {/*nth=*/1, /*every=*/false};
  plan.hang_at_end_for = absl::Seconds(30);
  server.SetFaults(plan);
  SendOptions options;
  options.deadline = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_EQ(server.Send(Vehicles(0, 5), options).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The hanging handler notices the cancellation and gives up without committing.
  ASSERT_TRUE(WaitFor([&] { return server.Stats().streams_failed == 1; }));
  EXPECT_EQ(server.Stats().uncommitted_messages, 5);
}

TEST(IngestServiceTest, HangAtEndDelaysTheOk) {
  IngestTestServer server;
  FaultPlan plan;
  plan.hang_at_end = {/*nth=*/1, /*every=*/false};
  plan.hang_at_end_for = absl::Milliseconds(300);
  server.SetFaults(plan);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(server.Send(Vehicles(0, 5)).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(server.Stats().committed_messages, 5);
}

TEST(IngestServiceTest, SlowReaderTakesAtLeastItsInjectedSleeps) {
  IngestTestServer server;
  FaultPlan plan;
  plan.slow_reader_every = 10;
  plan.slow_reader_sleep = absl::Milliseconds(20);
  server.SetFaults(plan);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(server.Send(Vehicles(0, 100)).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(10 * 20));
  EXPECT_EQ(server.Stats().committed_messages, 100);
}

TEST(IngestServiceTest, OutageRefusesStreamsUntilItsWindowEnds) {
  IngestTestServer server;
  FaultPlan plan;
  plan.refuse_streams_until = absl::Now() + absl::Milliseconds(300);
  server.SetFaults(plan);
  EXPECT_EQ(server.Send(Vehicles(0, 5)).error_code(), grpc::StatusCode::UNAVAILABLE);
  absl::SleepFor(plan.refuse_streams_until - absl::Now() + absl::Milliseconds(10));
  EXPECT_TRUE(server.Send(Vehicles(0, 5)).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.streams_refused, 1);
  EXPECT_EQ(stats.streams_failed, 1);
  EXPECT_EQ(stats.streams_completed, 1);
  EXPECT_EQ(stats.messages_received, 5);  // The refused stream read nothing.
}

TEST(IngestServiceTest, RejectAllAnswersItsCodeUntilTurnedOff) {
  IngestTestServer server;
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  server.SetFaults(plan);
  EXPECT_EQ(server.Send(Vehicles(0, 5)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(server.Stats().messages_received, 0);
  server.SetFaults(FaultPlan());
  EXPECT_TRUE(server.Send(Vehicles(0, 5)).ok());
}

TEST(IngestServiceTest, RefusedFlowEndsOnlyTheStreamsThatCarryIt) {
  IngestTestServer server;
  FaultPlan plan;
  plan.refused_flow = "poison";
  server.SetFaults(plan);
  std::vector<IngestRequest> poisoned = Vehicles(0, 10);
  poisoned[4].set_flow("poison");
  const grpc::Status status = server.Send(poisoned);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << status.error_message();
  EXPECT_NE(status.error_message().find("flow 'poison'"), std::string::npos)
      << status.error_message();
  EXPECT_TRUE(server.Send(Vehicles(100, 10)).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.committed_messages, 10);  // The clean stream's; the poisoned one failed.
  EXPECT_EQ(stats.uncommitted_messages, 4);
}

TEST(IngestServiceTest, SameMessagesInTwoOkStreamsAreCommittedDuplicates) {
  IngestTestServer server;
  const std::vector<IngestRequest> requests = Vehicles(0, 100);
  ASSERT_TRUE(server.Send(requests).ok());
  ASSERT_TRUE(server.Send(requests).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.messages_received, 200);
  EXPECT_EQ(stats.unique_messages, 100);
  EXPECT_EQ(stats.duplicate_messages, 100);
  EXPECT_EQ(stats.committed_messages, 100);
  EXPECT_EQ(stats.committed_duplicates, 100);
  EXPECT_EQ(server.ArrivalCount(requests[0]), 2);
}

TEST(IngestServiceTest, BadApiKeyIsUnauthenticatedBeforeAnyFault) {
  IngestTestServer server;
  for (const std::string& authorization :
       {std::string(""), std::string("Bearer wrong-key"), absl::StrCat("Basic ", kTestApiKey)}) {
    SendOptions options;
    options.authorization = authorization;
    EXPECT_EQ(server.Send(Vehicles(0, 3), options).error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "authorization: '" << authorization << "'";
  }
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.streams_unauthenticated, 3);
  EXPECT_EQ(stats.messages_received, 0);
  EXPECT_EQ(server.faults().streams_begun(), 0);  // Stream numbers are for real streams.
}

// Which of 10 streams of 1000 messages fail, given the seed (every stream is long enough for
// its random end point, which is below 1000).
std::vector<bool> RandomFailures(uint64_t seed) {
  IngestTestServer server;
  FaultPlan plan;
  plan.seed = seed;
  plan.stream_failure_probability = 0.5;
  server.SetFaults(plan);
  std::vector<bool> failed;
  for (int stream = 0; stream < 10; ++stream) {
    const grpc::Status status = server.Send(Vehicles(stream * 1000, 1000));
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE)
        << status.error_message();
    failed.push_back(!status.ok());
  }
  return failed;
}

TEST(IngestServiceTest, RandomFailuresReplayForTheSameSeed) {
  const std::vector<bool> first = RandomFailures(7);
  EXPECT_EQ(RandomFailures(7), first);
  // The seed matters and some streams fail but not all (true of seed 7; a fixed fact).
  EXPECT_NE(RandomFailures(8), first);
  EXPECT_NE(std::count(first.begin(), first.end(), true), 0);
  EXPECT_NE(std::count(first.begin(), first.end(), false), 0);
}

TEST(IngestServiceTest, ShutdownWithAnOpenStreamIsBounded) {
  IngestTestServer server;
  grpc::ClientContext context;
  IngestTestServer::Prepare(context, SendOptions());
  IngestWithConfigDataStreamResponse response;
  auto writer = server.stub().IngestWithConfigDataStream(&context, &response);
  for (const IngestRequest& request : Vehicles(0, 3)) ASSERT_TRUE(writer->Write(request));
  ASSERT_TRUE(WaitFor([&] { return server.Stats().messages_received == 3; }));

  const absl::Time start = absl::Now();
  server.Shutdown(absl::Milliseconds(200));  // The client never half-closes.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  writer->WritesDone();
  EXPECT_FALSE(writer->Finish().ok());
  ASSERT_TRUE(WaitFor([&] { return server.Stats().streams_failed == 1; }));
  EXPECT_EQ(server.Stats().uncommitted_messages, 3);
}

TEST(IngestServiceTest, ShutdownEndsAnInjectedHangAtOnce) {
  IngestTestServer server;
  FaultPlan plan;
  plan.hang_at_end = {/*nth=*/1, /*every=*/false};
  plan.hang_at_end_for = absl::Seconds(60);
  server.SetFaults(plan);
  grpc::Status status;
  std::thread client([&] { status = server.Send(Vehicles(0, 5)); });
  ASSERT_TRUE(WaitFor([&] { return server.Stats().messages_received == 5; }));
  absl::SleepFor(absl::Milliseconds(50));  // Let the handler reach its hang.

  const absl::Time start = absl::Now();
  server.Shutdown(absl::Seconds(10));  // Must not wait for the hang, nor the grace period.
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  client.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(server.Stats().uncommitted_messages, 5);
}

TEST(IngestServiceTest, ClientCancelFailsTheStream) {
  IngestTestServer server;
  grpc::ClientContext context;
  IngestTestServer::Prepare(context, SendOptions());
  IngestWithConfigDataStreamResponse response;
  auto writer = server.stub().IngestWithConfigDataStream(&context, &response);
  for (const IngestRequest& request : Vehicles(0, 3)) ASSERT_TRUE(writer->Write(request));
  ASSERT_TRUE(WaitFor([&] { return server.Stats().messages_received == 3; }));
  context.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitFor([&] { return server.Stats().streams_failed == 1; }));
  EXPECT_EQ(server.Stats().uncommitted_messages, 3);
}

TEST(IngestServiceTest, SinkCountsOneHundredThousandMessages) {
  IngestTestServer server(IngestTestServer::Mode::kSink);
  constexpr int kMessages = 100000;
  const IngestRequest request = Vehicle(1);
  grpc::ClientContext context;
  IngestTestServer::Prepare(context, SendOptions());
  IngestWithConfigDataStreamResponse response;
  auto writer = server.stub().IngestWithConfigDataStream(&context, &response);
  for (int i = 0; i < kMessages; ++i) {
    // Buffered writes (flushed every 64th) keep the sync client from being the bottleneck.
    grpc::WriteOptions options;
    if (i % 64 != 63) options.set_buffer_hint();
    ASSERT_TRUE(writer->Write(request, options));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.sink_streams, 1);
  EXPECT_EQ(stats.sink_messages, kMessages);
  EXPECT_EQ(stats.sink_bytes, int64_t{kMessages} * static_cast<int64_t>(request.ByteSizeLong()));
  EXPECT_EQ(stats.messages_received, 0);  // Nothing parsed, nothing keyed.
  EXPECT_GT(stats.server_cpu_ns_per_message, 0);
}

TEST(IngestServiceTest, SinkRefusesABadApiKey) {
  IngestTestServer server(IngestTestServer::Mode::kSink);
  SendOptions options;
  options.authorization = "Bearer wrong-key";
  EXPECT_EQ(server.Send(Vehicles(0, 3), options).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(server.Send(Vehicles(0, 3)).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.sink_streams, 2);
  EXPECT_EQ(stats.sink_streams_refused, 1);
  EXPECT_EQ(stats.sink_messages, 3);
}

}  // namespace
}  // namespace sift_stream::testing::ingest_test
