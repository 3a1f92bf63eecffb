// Flows registered while streaming (SiftStream::AddFlows) and on first use
// (SiftStreamBuilder::AutoRegisterFlows), end to end against the fake Sift: what the server
// registered, what it committed, and what is refused and how.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"
#include "testing/fake_sift.h"

namespace sift_stream {
namespace {

using sift::common::type::v1::ChannelDataType;
using sift::ingestion_configs::v2::FlowConfig;

absl::Time At(int64_t i) { return absl::FromUnixMicros(1764000000000000 + i); }

FlowConfig MakeFlow(const std::string& name,
                    const std::vector<std::pair<std::string, ChannelDataType>>& channels) {
  FlowConfig flow;
  flow.set_name(name);
  for (const auto& [channel_name, type] : channels) {
    auto* channel = flow.add_channels();
    channel->set_name(channel_name);
    channel->set_data_type(type);
  }
  return flow;
}

FlowConfig Battery() {
  return MakeFlow("battery", {{"volts", sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE},
                              {"state", sift::common::type::v1::CHANNEL_DATA_TYPE_STRING}});
}

class FlowsMidStreamTest : public SiftStreamTest {
 protected:
  std::shared_ptr<const FlowConfig> ServerFlow(const SiftStream& stream, const std::string& name) {
    return sift_->registry().FindFlow(stream.ingestion_config_id(), name);
  }

  bool Committed(const SiftStream& stream, const std::string& flow, int64_t i) {
    const int64_t nanos = absl::ToUnixNanos(At(i));
    testing::MessageKey key;
    key.ingestion_config_id = stream.ingestion_config_id();
    key.flow = flow;
    key.timestamp_seconds = nanos / 1000000000;
    key.timestamp_nanos = static_cast<int32_t>(nanos % 1000000000);
    return sift_->recorder().Committed(key);
  }
};

TEST_F(FlowsMidStreamTest, FlowAddedMidStreamIsRegisteredAndItsMessagesCommitted) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(s.Send("f", At(i), {ChannelValue::Double(i), ChannelValue::Double(i)}).ok());
  }
  absl::Status early =
      s.Send("battery", At(0), {ChannelValue::Double(1), ChannelValue::String("ok")});
  EXPECT_TRUE(absl::IsInvalidArgument(early)) << early;
  EXPECT_TRUE(absl::StrContains(early.message(), "AddFlows")) << early;
  EXPECT_TRUE(absl::IsNotFound(s.Flow("battery").status()));
  EXPECT_EQ(ServerFlow(s, "battery"), nullptr);

  ASSERT_TRUE(s.AddFlows({Battery()}).ok());
  auto registered = ServerFlow(s, "battery");
  ASSERT_NE(registered, nullptr);
  EXPECT_EQ(registered->DebugString(), Battery().DebugString());
  ASSERT_EQ(s.flows().size(), 2u);
  EXPECT_EQ(s.flows()[1].name(), "battery");

  absl::StatusOr<FlowWriter> writer = s.Flow("battery");
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        s.Send("battery", At(i), {ChannelValue::Double(i), ChannelValue::String("ok")}).ok());
    writer->SetDouble(0, i).SetString(1, "writer");
    ASSERT_TRUE(writer->Send(At(1000 + i)).ok());
    ASSERT_TRUE(s.Send("f", At(100 + i), {ChannelValue::Double(i), ChannelValue::Double(i)}).ok());
  }
  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(400);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(Committed(s, "battery", i)) << i;
    EXPECT_TRUE(Committed(s, "battery", 1000 + i)) << i;
  }
}

TEST_F(FlowsMidStreamTest, InvalidOrConflictingFlowsAreRefusedClearlyAndAddNothing) {
  // At the server only: a flow another client registered in this config with other channels.
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest theirs;
  theirs.set_ingestion_config_id(s.ingestion_config_id());
  *theirs.add_flows() = MakeFlow("gps", {{"lat", sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT}});
  ASSERT_TRUE(sift_->registry().CreateFlows(theirs).ok());

  absl::Status twice = s.AddFlows({Battery(), Battery()});
  EXPECT_TRUE(absl::IsInvalidArgument(twice)) << twice;
  EXPECT_TRUE(absl::StrContains(twice.message(), "'battery' is given twice")) << twice;

  FlowConfig untyped =
      MakeFlow("t", {{"x", sift::common::type::v1::CHANNEL_DATA_TYPE_UNSPECIFIED}});
  absl::Status no_type = s.AddFlows({untyped});
  EXPECT_TRUE(absl::IsInvalidArgument(no_type)) << no_type;
  EXPECT_TRUE(absl::StrContains(no_type.message(), "data type")) << no_type;

  // "f" is the stream's own (a, b: double).
  FlowConfig changed_f = MakeFlow("f", {{"a", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64}});
  absl::Status reshaped = s.AddFlows({Battery(), changed_f});
  EXPECT_TRUE(absl::IsFailedPrecondition(reshaped)) << reshaped;
  EXPECT_TRUE(absl::StrContains(reshaped.message(), "(a: double, b: double)")) << reshaped;
  EXPECT_TRUE(absl::StrContains(reshaped.message(), "(a: int64)")) << reshaped;

  FlowConfig our_gps = MakeFlow("gps", {{"lat", sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE}});
  absl::Status taken = s.AddFlows({Battery(), our_gps});
  EXPECT_TRUE(absl::IsFailedPrecondition(taken)) << taken;
  EXPECT_TRUE(absl::StrContains(taken.message(), "'gps' already exists")) << taken;

  // All or nothing: the valid flow given with each refused one was not registered anywhere.
  EXPECT_EQ(ServerFlow(s, "battery"), nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(
      s.Send("battery", At(0), {ChannelValue::Double(1), ChannelValue::String("x")})));
  EXPECT_EQ(s.flows().size(), 1u);

  // The same flow again is no change, and no error.
  EXPECT_TRUE(s.AddFlows({s.flows()[0]}).ok());
  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(s.AddFlows({Battery()})));
  EXPECT_EQ(sift_->Stats().ingest.invalid_messages, 0);
}

TEST_F(FlowsMidStreamTest, AutoRegisteredFlowAppearsAtTheServerWithTheValuesTypes) {
  IngestionConfigSpec config;  // No flows declared at all: every one is met on the way.
  config.asset_name = "rig";
  config.client_key = "rig-auto";
  auto stream = Builder().IngestionConfig(config).AutoRegisterFlows(true).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;

  for (int i = 0; i < 50; ++i) {
    absl::Status sent = s.Send("auto", At(i),
                               {ChannelValue::Double(i), ChannelValue::Int64(-i),
                                ChannelValue::String("s"), ChannelValue::Bool(i % 2 == 0)});
    ASSERT_TRUE(sent.ok()) << sent;
  }
  auto flow = ServerFlow(s, "auto");
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->DebugString(),
            MakeFlow("auto", {{"channel_0", sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE},
                              {"channel_1", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64},
                              {"channel_2", sift::common::type::v1::CHANNEL_DATA_TYPE_STRING},
                              {"channel_3", sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL}})
                .DebugString());
  // Later messages may leave a channel empty, like any flow's.
  ASSERT_TRUE(s.Send("auto", At(50),
                     {ChannelValue::Empty(), ChannelValue::Int64(1), ChannelValue::Empty(),
                      ChannelValue::Empty()})
                  .ok());

  // A second use in another shape is refused, naming the flow and what does not fit.
  absl::Status fewer = s.Send("auto", At(60), {ChannelValue::Double(1)});
  EXPECT_TRUE(absl::IsInvalidArgument(fewer)) << fewer;
  EXPECT_TRUE(absl::StrContains(fewer.message(), "flow 'auto' has 4 channels")) << fewer;
  absl::Status retyped = s.Send("auto", At(61),
                                {ChannelValue::Int64(1), ChannelValue::Int64(1),
                                 ChannelValue::String("s"), ChannelValue::Bool(true)});
  EXPECT_TRUE(absl::IsInvalidArgument(retyped)) << retyped;
  EXPECT_TRUE(absl::StrContains(retyped.message(), "'channel_0' is double")) << retyped;

  // A first message with an empty value has no type to register.
  absl::Status untyped = s.Send("gappy", At(0), {ChannelValue::Double(1), ChannelValue::Empty()});
  EXPECT_TRUE(absl::IsInvalidArgument(untyped)) << untyped;
  EXPECT_TRUE(absl::StrContains(untyped.message(), "value 1 is empty")) << untyped;
  EXPECT_EQ(ServerFlow(s, "gappy"), nullptr);

  // A request built by the caller registers its flow the same way.
  sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  request.set_flow("raw");
  *request.mutable_timestamp() = google::protobuf::Timestamp();
  request.mutable_timestamp()->set_seconds(1764000000);
  request.add_channel_values()->set_uint32(7);
  sift::ingest::v1::IngestWithConfigDataStreamRequest elsewhere = request;
  elsewhere.set_ingestion_config_id("another-config");
  EXPECT_TRUE(absl::IsInvalidArgument(s.Send(elsewhere)));
  EXPECT_EQ(ServerFlow(s, "raw"), nullptr) << "registered for a request it refused";
  ASSERT_TRUE(s.Send(request).ok());
  auto raw = ServerFlow(s, "raw");
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->channels(0).data_type(), sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32);

  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(52);
  for (int i = 0; i <= 50; ++i) EXPECT_TRUE(Committed(s, "auto", i)) << i;
}

TEST_F(FlowsMidStreamTest, AutoRegisterRefusesANameTheServerHasInAnotherShape) {
  auto stream = Builder().AutoRegisterFlows(true).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  sift::ingestion_configs::v2::CreateIngestionConfigFlowsRequest theirs;
  theirs.set_ingestion_config_id(s.ingestion_config_id());
  *theirs.add_flows() =
      MakeFlow("taken", {{"label", sift::common::type::v1::CHANNEL_DATA_TYPE_STRING}});
  ASSERT_TRUE(sift_->registry().CreateFlows(theirs).ok());

  absl::Status sent = s.Send("taken", At(0), {ChannelValue::Double(1)});
  EXPECT_TRUE(absl::IsFailedPrecondition(sent)) << sent;
  EXPECT_TRUE(absl::StrContains(sent.message(), "'taken' already exists")) << sent;
  // Declared flows are never re-registered from a message.
  sent = s.Send("f", At(0), {ChannelValue::Double(1)});
  EXPECT_TRUE(absl::IsInvalidArgument(sent)) << sent;
  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  EXPECT_EQ(sift_->Stats().ingest.messages_received, 0);
}

TEST_F(FlowsMidStreamTest, ManyThreadsMeetingTheSameNewFlowRegisterItOnceAndLoseNothing) {
  auto stream = Builder().AutoRegisterFlows(true).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (int n = 0; n < kPerThread; ++n) {
        const int64_t i = t * kPerThread + n;
        // Each thread also meets a flow of its own, while the others stream.
        const std::string flow = n % 2 == 0 ? "shared" : absl::StrCat("own_", t);
        absl::Status sent;
        do {
          sent = s.Send(flow, At(i), {ChannelValue::Int32(n), ChannelValue::Float(0.5f)});
          if (absl::IsResourceExhausted(sent)) absl::SleepFor(absl::Milliseconds(1));
        } while (absl::IsResourceExhausted(sent));
        ASSERT_TRUE(sent.ok()) << sent;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(s.Finish(absl::Seconds(60)).ok());
  ExpectNothingLost(kThreads * kPerThread);
  auto listed = sift_->registry().ListFlows([&] {
    sift::ingestion_configs::v2::ListIngestionConfigFlowsRequest request;
    request.set_ingestion_config_id(s.ingestion_config_id());
    return request;
  }());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->flows_size(), 1 + 1 + kThreads);  // "f", "shared", "own_0".."own_3".
  EXPECT_EQ(s.flows().size(), static_cast<size_t>(1 + 1 + kThreads));
}

}  // namespace
}  // namespace sift_stream
