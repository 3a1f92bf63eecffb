#include "testing/fake_sift.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"

namespace sift_stream::testing {
namespace {

using sift::ingest::v1::IngestService;
using sift::ingest::v1::IngestWithConfigDataStreamRequest;
using sift::ingest::v1::IngestWithConfigDataStreamResponse;
namespace configs = sift::ingestion_configs::v2;

constexpr char kKey[] = "fake-sift-test-key";

class FakeSiftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeSiftOptions options;
    options.api_keys = {kKey};
    auto sift = FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(sift).value();
    Connect();
    RegisterFlow();
  }

  void Connect() {
    channel_ = grpc::CreateChannel(sift_->address(), grpc::InsecureChannelCredentials());
    ingest_ = IngestService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", std::string("Bearer ") + kKey);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  void RegisterFlow() {
    auto stub = configs::IngestionConfigService::NewStub(channel_);
    configs::CreateIngestionConfigRequest request;
    request.set_asset_name("rig");
    request.set_client_key("rig-config");
    configs::FlowConfig* flow = request.add_flows();
    flow->set_name("imu");
    configs::ChannelConfig* channel = flow->add_channels();
    channel->set_name("accel_x");
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
    configs::CreateIngestionConfigResponse response;
    grpc::Status status = stub->CreateIngestionConfig(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    config_id_ = response.ingestion_config().ingestion_config_id();
  }

  IngestWithConfigDataStreamRequest Message(int64_t i) const {
    IngestWithConfigDataStreamRequest request;
    request.set_ingestion_config_id(config_id_);
    request.set_flow("imu");
    request.mutable_timestamp()->set_seconds(1764000000 + i);
    request.add_channel_values()->set_double_(0.5 * i);
    return request;
  }

  // Streams messages [first, first + count) on one stream; returns how it ended.
  grpc::Status Stream(int64_t first, int64_t count) {
    auto context = Context();
    IngestWithConfigDataStreamResponse response;
    auto writer = ingest_->IngestWithConfigDataStream(context.get(), &response);
    for (int64_t i = first; i < first + count; ++i) {
      if (!writer->Write(Message(i))) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  std::unique_ptr<FakeSift> sift_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<IngestService::Stub> ingest_;
  std::string config_id_;
};

TEST_F(FakeSiftTest, MessagesOfAStreamThatEndedOkAreCommitted) {
  ASSERT_TRUE(Stream(0, 500).ok());
  FakeSiftStats stats = sift_->Stats();
  EXPECT_EQ(stats.ingest.streams_completed, 1);
  EXPECT_EQ(stats.ingest.committed_messages, 500);
  EXPECT_EQ(stats.ingest.invalid_messages, 0);
  EXPECT_EQ(stats.ingestion_config_calls.calls, 1);
}

TEST_F(FakeSiftTest, OutageRefusesStreamsWithUnavailableThenRecovers) {
  sift_->RefuseStreamsFor(absl::Milliseconds(300));
  grpc::Status during = Stream(0, 10);
  EXPECT_EQ(during.error_code(), grpc::StatusCode::UNAVAILABLE) << during.error_message();
  absl::SleepFor(absl::Milliseconds(350));
  EXPECT_TRUE(Stream(0, 10).ok());
  FakeSiftStats stats = sift_->Stats();
  EXPECT_EQ(stats.ingest.streams_refused, 1);
  EXPECT_EQ(stats.ingest.committed_messages, 10);
}

TEST_F(FakeSiftTest, RestartCutsOpenStreamsAndComesBackOnTheSamePort) {
  const int port = sift_->port();
  auto context = Context();
  IngestWithConfigDataStreamResponse response;
  auto writer = ingest_->IngestWithConfigDataStream(context.get(), &response);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(writer->Write(Message(i)));
  // Let the server read them before it goes down.
  for (int spin = 0; spin < 200 && sift_->Stats().ingest.messages_received < 50; ++spin) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(sift_->Restart(absl::Milliseconds(200)).ok());
  writer->WritesDone();
  grpc::Status cut = writer->Finish();
  EXPECT_FALSE(cut.ok());
  EXPECT_EQ(sift_->port(), port);

  FakeSiftStats after_cut = sift_->Stats();
  EXPECT_EQ(after_cut.restarts, 1);
  EXPECT_EQ(after_cut.ingest.messages_received, 50);
  EXPECT_EQ(after_cut.ingest.committed_messages, 0);  // Never acknowledged.

  // The same channel reconnects; the flow registered before the restart is still known.
  ASSERT_TRUE(Stream(0, 50).ok());
  FakeSiftStats stats = sift_->Stats();
  EXPECT_EQ(stats.ingest.committed_messages, 50);
  EXPECT_EQ(stats.ingest.duplicate_messages, 50);
  EXPECT_EQ(stats.ingestion_config_calls.calls, 1);  // Counted across the restart.
}

TEST_F(FakeSiftTest, ShutdownWithAStreamLeftOpenIsBounded) {
  auto context = Context();
  IngestWithConfigDataStreamResponse response;
  auto writer = ingest_->IngestWithConfigDataStream(context.get(), &response);
  ASSERT_TRUE(writer->Write(Message(0)));
  const absl::Time start = absl::Now();
  sift_->Shutdown(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_FALSE(writer->Finish().ok());
}

TEST_F(FakeSiftTest, StatsJsonCarriesTheCountsByName) {
  ASSERT_TRUE(Stream(0, 7).ok());
  const std::string json = sift_->Stats().ToJson();
  EXPECT_NE(json.find("\"committed_messages\":7"), std::string::npos) << json;
  EXPECT_NE(json.find("\"restarts\":0"), std::string::npos) << json;
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

TEST(FakeSiftStartTest, BusyPortIsAClearError) {
  auto first = FakeSift::Start({});
  ASSERT_TRUE(first.ok());
  FakeSiftOptions options;
  options.port = (*first)->port();
  auto second = FakeSift::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos)
      << second.status();
}

}  // namespace
}  // namespace sift_stream::testing
