#include "engine/request_builder.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

using sift::common::type::v1::ChannelDataType;
namespace types = sift::common::type::v1;

sift::ingestion_configs::v2::FlowConfig Flow() {
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("engine");
  const std::pair<const char*, ChannelDataType> channels[] = {
      {"rpm", types::CHANNEL_DATA_TYPE_DOUBLE}, {"gear", types::CHANNEL_DATA_TYPE_INT_32},
      {"mode", types::CHANNEL_DATA_TYPE_ENUM},  {"ok", types::CHANNEL_DATA_TYPE_BOOL},
      {"note", types::CHANNEL_DATA_TYPE_STRING}};
  for (const auto& [name, type] : channels) {
    auto* c = flow.add_channels();
    c->set_name(name);
    c->set_data_type(type);
  }
  return flow;
}

class RequestBuilderTest : public ::testing::Test {
 protected:
  RequestBuilder builder_{"cfg-1", "run-7", {Flow()}};
  sift::ingest::v1::IngestWithConfigDataStreamRequest request_;
};

TEST_F(RequestBuilderTest, ValidValuesBecomeARequestWithIdsAndTimestamp) {
  const absl::Time t = absl::FromUnixNanos(1764000000123456789);
  ASSERT_TRUE(builder_
                  .Build("engine", t,
                         {ChannelValue::Double(3000.5), ChannelValue::Int32(3),
                          ChannelValue::Enum(2), ChannelValue::Bool(true),
                          ChannelValue::String("cruise")},
                         &request_)
                  .ok());
  EXPECT_EQ(request_.ingestion_config_id(), "cfg-1");
  EXPECT_EQ(request_.run_id(), "run-7");
  EXPECT_EQ(request_.flow(), "engine");
  EXPECT_EQ(request_.timestamp().seconds(), 1764000000);
  EXPECT_EQ(request_.timestamp().nanos(), 123456789);
  ASSERT_EQ(request_.channel_values_size(), 5);
  EXPECT_EQ(request_.channel_values(0).double_(), 3000.5);
  EXPECT_EQ(request_.channel_values(2).enum_(), 2u);
  EXPECT_EQ(request_.channel_values(4).string(), "cruise");
}

TEST_F(RequestBuilderTest, EmptyIsAcceptedForAnyChannel) {
  EXPECT_TRUE(builder_
                  .Build("engine", absl::Now(),
                         {ChannelValue::Empty(), ChannelValue::Empty(), ChannelValue::Empty(),
                          ChannelValue::Empty(), ChannelValue::Empty()},
                         &request_)
                  .ok());
  EXPECT_TRUE(request_.channel_values(1).has_empty());
}

TEST_F(RequestBuilderTest, UnknownFlowSaysSo) {
  absl::Status s = builder_.Build("brakes", absl::Now(), {}, &request_);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("unknown flow 'brakes'"), absl::string_view::npos) << s;
}

TEST_F(RequestBuilderTest, WrongNumberOfValuesNamesBothCounts) {
  absl::Status s = builder_.Build("engine", absl::Now(), {ChannelValue::Double(1)}, &request_);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("has 5 channels but 1 values"), absl::string_view::npos) << s;
}

TEST_F(RequestBuilderTest, WrongTypeNamesTheChannelAndBothTypes) {
  absl::Status s = builder_.Build(
      "engine", absl::Now(),
      {ChannelValue::Double(1), ChannelValue::Int64(3), ChannelValue::Enum(1),
       ChannelValue::Bool(false), ChannelValue::String("x")},
      &request_);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("channel 1 'gear' is int32 but the value is int64"),
            absl::string_view::npos)
      << s;
}

TEST_F(RequestBuilderTest, CompleteFillsIdsAndChecksACallerBuiltRequest) {
  request_.set_flow("engine");
  request_.mutable_timestamp()->set_seconds(1);
  request_.add_channel_values()->set_double_(1);
  request_.add_channel_values()->set_int32(1);
  request_.add_channel_values()->set_enum_(1);
  request_.add_channel_values()->set_bool_(true);
  request_.add_channel_values()->set_string("s");
  ASSERT_TRUE(builder_.Complete(&request_).ok());
  EXPECT_EQ(request_.ingestion_config_id(), "cfg-1");
  EXPECT_EQ(request_.run_id(), "run-7");
  request_.set_ingestion_config_id("other");
  EXPECT_TRUE(absl::IsInvalidArgument(builder_.Complete(&request_)));
}

TEST_F(RequestBuilderTest, TimestampsBeforeTheEpochKeepNanosPositive) {
  ASSERT_TRUE(builder_
                  .Build("engine", absl::FromUnixNanos(-1500000000),
                         {ChannelValue::Empty(), ChannelValue::Empty(), ChannelValue::Empty(),
                          ChannelValue::Empty(), ChannelValue::Empty()},
                         &request_)
                  .ok());
  EXPECT_EQ(request_.timestamp().seconds(), -2);
  EXPECT_EQ(request_.timestamp().nanos(), 500000000);
}

// Encode() must give exactly the bytes of Build() + protobuf's serializer: Send() uses it, and
// Sift (and every PBFS reader) sees the bytes.
TEST(RequestBuilderEncodeTest, EncodeWritesExactlyWhatProtobufSerializes) {
  sift::ingestion_configs::v2::FlowConfig all;
  all.set_name("all");
  const ChannelDataType kinds[] = {
      types::CHANNEL_DATA_TYPE_DOUBLE, types::CHANNEL_DATA_TYPE_FLOAT,
      types::CHANNEL_DATA_TYPE_BOOL,   types::CHANNEL_DATA_TYPE_INT_32,
      types::CHANNEL_DATA_TYPE_UINT_32, types::CHANNEL_DATA_TYPE_INT_64,
      types::CHANNEL_DATA_TYPE_UINT_64, types::CHANNEL_DATA_TYPE_STRING,
      types::CHANNEL_DATA_TYPE_ENUM,   types::CHANNEL_DATA_TYPE_BIT_FIELD,
      types::CHANNEL_DATA_TYPE_BYTES};
  for (ChannelDataType kind : kinds) {
    auto* c = all.add_channels();
    c->set_name(absl::StrCat("c", static_cast<int>(kind)));
    c->set_data_type(kind);
  }
  const std::string long_text(300, 'x');  // A two-byte length.
  const std::vector<std::vector<ChannelValue>> rows = {
      {ChannelValue::Double(0), ChannelValue::Float(0), ChannelValue::Bool(false),
       ChannelValue::Int32(0), ChannelValue::Uint32(0), ChannelValue::Int64(0),
       ChannelValue::Uint64(0), ChannelValue::String(""), ChannelValue::Enum(0),
       ChannelValue::BitField(""), ChannelValue::Bytes("")},
      {ChannelValue::Double(-1.5e300), ChannelValue::Float(3.25f), ChannelValue::Bool(true),
       ChannelValue::Int32(-1), ChannelValue::Uint32(4294967295u),
       ChannelValue::Int64(INT64_MIN), ChannelValue::Uint64(UINT64_MAX),
       ChannelValue::String(long_text), ChannelValue::Enum(300),
       ChannelValue::BitField(std::string("\x01\x00\xff", 3)),
       ChannelValue::Bytes(std::string(1, '\0'))},
      {ChannelValue::Double(std::numeric_limits<double>::quiet_NaN()), ChannelValue::Empty(),
       ChannelValue::Empty(), ChannelValue::Int32(INT32_MIN), ChannelValue::Empty(),
       ChannelValue::Int64(-300), ChannelValue::Empty(), ChannelValue::String("ü"),
       ChannelValue::Empty(), ChannelValue::Empty(), ChannelValue::Empty()},
  };
  const absl::Time times[] = {absl::UnixEpoch(), absl::FromUnixNanos(1764000000123456789),
                              absl::FromUnixNanos(-1), absl::FromUnixSeconds(-86400),
                              absl::FromUnixNanos(999999999)};
  for (const std::string& run : {std::string(), std::string("run-7")}) {
    for (const std::string& config : {std::string(), std::string("cfg-1")}) {
      RequestBuilder builder(config, run, {all});
      for (const auto& row : rows) {
        for (absl::Time t : times) {
          sift::ingest::v1::IngestWithConfigDataStreamRequest request;
          ASSERT_TRUE(builder.Build("all", t, row, &request).ok());
          std::string encoded = "left over";
          ASSERT_TRUE(builder.Encode("all", t, row, &encoded).ok());
          EXPECT_EQ(encoded, request.SerializeAsString())
              << "run '" << run << "' config '" << config << "' at " << t;
        }
      }
    }
  }
}

TEST_F(RequestBuilderTest, EncodeRefusesWhatBuildRefusesWithTheSameWords) {
  const std::vector<std::vector<ChannelValue>> bad = {
      {ChannelValue::Double(1)},
      {ChannelValue::Double(1), ChannelValue::Int64(3), ChannelValue::Enum(2),
       ChannelValue::Bool(true), ChannelValue::String("x")},
  };
  for (const auto& values : bad) {
    std::string encoded;
    const absl::Status built = builder_.Build("engine", absl::Now(), values, &request_);
    const absl::Status encoded_status = builder_.Encode("engine", absl::Now(), values, &encoded);
    EXPECT_TRUE(absl::IsInvalidArgument(encoded_status)) << encoded_status;
    EXPECT_EQ(encoded_status, built);
  }
  std::string encoded;
  EXPECT_EQ(builder_.Encode("nope", absl::Now(), {}, &encoded),
            builder_.Build("nope", absl::Now(), {}, &request_));
}

}  // namespace
}  // namespace sift_stream::engine
