// FlowWriter: the bytes it encodes are the bytes protobuf's serializer produces for the same
// request, mistakes are reported as SiftStream::Send reports them, and what it sends arrives.

#include "engine/flow_writer.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "engine/request_builder.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"

namespace sift_stream {
namespace {

using sift::common::type::v1::ChannelDataType;

sift::ingestion_configs::v2::FlowConfig EveryTypeFlow() {
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("every_type");
  const std::pair<const char*, ChannelDataType> channels[] = {
      {"d", sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE},
      {"f", sift::common::type::v1::CHANNEL_DATA_TYPE_FLOAT},
      {"b", sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL},
      {"i32", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_32},
      {"u32", sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_32},
      {"i64", sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64},
      {"u64", sift::common::type::v1::CHANNEL_DATA_TYPE_UINT_64},
      {"e", sift::common::type::v1::CHANNEL_DATA_TYPE_ENUM},
      {"s", sift::common::type::v1::CHANNEL_DATA_TYPE_STRING},
      {"bits", sift::common::type::v1::CHANNEL_DATA_TYPE_BIT_FIELD},
      {"raw", sift::common::type::v1::CHANNEL_DATA_TYPE_BYTES},
  };
  for (const auto& [name, type] : channels) {
    auto* channel = flow.add_channels();
    channel->set_name(name);
    channel->set_data_type(type);
  }
  return flow;
}

// The reference: RequestBuilder + protobuf's serializer.
std::string Reference(const sift::ingestion_configs::v2::FlowConfig& flow, absl::Time t,
                      const std::vector<engine::ChannelValue>& values,
                      const std::string& run_id) {
  engine::RequestBuilder builder("cfg-123", run_id, {flow});
  sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  EXPECT_TRUE(builder.Build(flow.name(), t, values, &request).ok());
  return request.SerializeAsString();
}

TEST(FlowWriterTest, BytesEqualProtobufsForEveryTypeAndEdgeValue) {
  const auto flow = EveryTypeFlow();
  struct Case {
    absl::Time t;
    double d;
    float f;
    bool b;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    uint32_t e;
    std::string s;
  };
  const Case cases[] = {
      {absl::FromUnixMicros(1764000000123456), 1.5, 2.5f, true, 7, 8, 9, 10, 3, "hello"},
      {absl::UnixEpoch(), 0.0, 0.0f, false, 0, 0, 0, 0, 0, ""},  // Defaults still encoded.
      {absl::FromUnixNanos(-1500000001), -0.0, -1.0f, false, -1, 0xffffffffu,
       std::numeric_limits<int64_t>::min(), std::numeric_limits<uint64_t>::max(), 0xffffffffu,
       std::string(300, 'x')},  // Before 1970, sign-extended ints, a 2-byte length.
      {absl::FromUnixSeconds(5), std::nan(""), std::numeric_limits<float>::infinity(), true,
       std::numeric_limits<int32_t>::min(), 1, -5, 1, 1, std::string("\0a", 2)},
  };
  for (const std::string run_id : {"", "run-9"}) {
    FlowWriter writer(nullptr, flow, "cfg-123", run_id);
    for (const Case& c : cases) {
      writer.SetDouble(0, c.d).SetFloat(1, c.f).SetBool(2, c.b).SetInt32(3, c.i32);
      writer.SetUint32(4, c.u32).SetInt64(5, c.i64).SetUint64(6, c.u64).SetEnum(7, c.e);
      writer.SetString(8, c.s).SetBitField(9, c.s).SetBytes(10, c.s);
      absl::StatusOr<std::string> bytes = writer.Encode(c.t);
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      EXPECT_EQ(*bytes,
                Reference(flow, c.t,
                          {engine::ChannelValue::Double(c.d), engine::ChannelValue::Float(c.f),
                           engine::ChannelValue::Bool(c.b), engine::ChannelValue::Int32(c.i32),
                           engine::ChannelValue::Uint32(c.u32), engine::ChannelValue::Int64(c.i64),
                           engine::ChannelValue::Uint64(c.u64), engine::ChannelValue::Enum(c.e),
                           engine::ChannelValue::String(c.s),
                           engine::ChannelValue::BitField(c.s),
                           engine::ChannelValue::Bytes(c.s)},
                          run_id))
          << "run_id '" << run_id << "', s of " << c.s.size() << " bytes";
    }
  }
}

TEST(FlowWriterTest, UnsetChannelsGoAsEmpty) {
  const auto flow = EveryTypeFlow();
  FlowWriter writer(nullptr, flow, "cfg-123", "");
  writer.SetDouble(0, 3.0);
  const absl::Time t = absl::FromUnixSeconds(100);
  std::vector<engine::ChannelValue> values(11, engine::ChannelValue::Empty());
  values[0] = engine::ChannelValue::Double(3.0);
  EXPECT_EQ(*writer.Encode(t), Reference(flow, t, values, ""));
}

TEST(FlowWriterTest, WrongTypeUnknownNameAndBadIndexAreNamedAndNothingIsSent) {
  const auto flow = EveryTypeFlow();
  FlowWriter writer(nullptr, flow, "cfg-123", "");
  writer.SetInt64(0, 5);  // Channel 0 is a double.
  absl::StatusOr<std::string> wrong = writer.Encode(absl::UnixEpoch());
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(wrong.status()));
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "channel 0 'd' is double but the value is int64"))
      << wrong.status();
  FlowWriter by_name(nullptr, flow, "cfg-123", "");
  by_name.SetDouble("nope", 1.0);
  EXPECT_TRUE(absl::StrContains(by_name.Encode(absl::UnixEpoch()).status().message(),
                                "no channel named 'nope'"));
  FlowWriter out_of_range(nullptr, flow, "cfg-123", "");
  out_of_range.SetBool(11, true);
  EXPECT_TRUE(absl::StrContains(out_of_range.Encode(absl::UnixEpoch()).status().message(),
                                "there is no channel 11"));
  EXPECT_EQ(*writer.ChannelIndex("s"), 8u);
  EXPECT_TRUE(absl::IsNotFound(writer.ChannelIndex("zz").status()));
}

using FlowWriterStreamTest = SiftStreamTest;

TEST_F(FlowWriterStreamTest, MessagesSentThroughAWriterArriveAndMistakesClearTheRow) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(absl::IsNotFound((*stream)->Flow("nope").status()));
  absl::StatusOr<FlowWriter> writer = (*stream)->Flow("f");
  ASSERT_TRUE(writer.ok()) << writer.status();
  const size_t b = *writer->ChannelIndex("b");
  int sent = 0;
  for (int i = 0; i < 20000; ++i) {
    writer->SetDouble(0, i).SetDouble(b, -i);
    absl::Status s;
    while (absl::IsResourceExhausted(
        s = writer->Send(absl::FromUnixMicros(1764000000000000 + i)))) {
      writer->SetDouble(0, i).SetDouble(b, -i);  // The row was cleared: set it again.
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_TRUE(s.ok()) << s;
    ++sent;
  }
  writer->SetBool(0, true);
  EXPECT_TRUE(absl::IsInvalidArgument(writer->Send(absl::Now())));
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(sent);
  EXPECT_EQ((*stream)->Metrics().messages_sent, static_cast<uint64_t>(sent));
}

}  // namespace
}  // namespace sift_stream
