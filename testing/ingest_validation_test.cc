// The fake ingest service's validation of messages against their flow: ValidateRequest's
// rules and messages, and what an invalid message does to a stream as a client sees it.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/ingest_service.h"
#include "testing/ingest_test_server.h"

namespace sift_stream::testing::ingest_test {
namespace {

using ::sift::ingest::v1::IngestWithConfigDataChannelValue;
namespace types = ::sift::common::type::v1;

// One invalid message of each kind, between two valid ones.
std::vector<IngestRequest> OneOfEachInvalidKind() {
  std::vector<IngestRequest> requests = {Vehicle(0)};
  requests.push_back(Vehicle(1));
  requests.back().set_flow("no_such_flow");
  requests.push_back(Vehicle(2));
  requests.back().set_ingestion_config_id("no_such_config");
  requests.push_back(Vehicle(3));
  requests.back().mutable_channel_values()->RemoveLast();  // 2 values for 3 channels.
  requests.push_back(Vehicle(4));
  requests.back().mutable_channel_values(0)->set_string("not a double");
  requests.push_back(Vehicle(5));
  requests.back().mutable_channel_values(1)->Clear();  // No oneof case set.
  requests.push_back(Vehicle(6));
  return requests;
}

TEST(IngestServiceTest, InvalidMessagesAreCountedAndTheStreamGoesOn) {
  IngestTestServer server;
  const std::vector<IngestRequest> requests = OneOfEachInvalidKind();
  ASSERT_TRUE(server.Send(requests).ok());
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.invalid_messages, 5);
  EXPECT_EQ(stats.messages_received, 2);
  EXPECT_EQ(stats.committed_messages, 2);
  EXPECT_TRUE(server.Committed(requests[6]));
  EXPECT_EQ(server.ArrivalCount(requests[4]), 0);
  int64_t total_bytes = 0;
  for (const IngestRequest& request : requests) total_bytes += request.ByteSizeLong();
  EXPECT_EQ(stats.bytes_received, total_bytes);
}

TEST(IngestServiceTest, EndStreamOnValidationErrorEndsWithInvalidArgument) {
  IngestTestServer server;
  std::vector<IngestRequest> requests = Vehicles(0, 5);
  requests[2].mutable_channel_values()->RemoveLast();
  requests[2].set_end_stream_on_validation_error(true);
  const grpc::Status status = server.Send(requests);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "message 2 ")) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "has 3 channels but the message has 2"))
      << status.error_message();
  const IngestStats stats = server.Stats();
  EXPECT_EQ(stats.invalid_messages, 1);
  EXPECT_EQ(stats.messages_received, 2);
  EXPECT_EQ(stats.uncommitted_messages, 2);
  EXPECT_EQ(stats.streams_failed, 1);
}

TEST(IngestServiceTest, InvalidMessageWithoutTheFlagDoesNotEndTheStream) {
  IngestTestServer server;
  std::vector<IngestRequest> requests = Vehicles(0, 5);
  requests[1].set_end_stream_on_validation_error(true);  // Valid itself: the flag is moot.
  requests[2].set_flow("no_such_flow");
  EXPECT_TRUE(server.Send(requests).ok());
  EXPECT_EQ(server.Stats().committed_messages, 4);
}

using TypeCase = IngestWithConfigDataChannelValue::TypeCase;

// Sets `value` to a value of the given oneof case.
void SetCase(TypeCase value_case, IngestWithConfigDataChannelValue* value) {
  switch (value_case) {
    case IngestWithConfigDataChannelValue::kString:
      value->set_string("s");
      break;
    case IngestWithConfigDataChannelValue::kDouble:
      value->set_double_(1.0);
      break;
    case IngestWithConfigDataChannelValue::kFloat:
      value->set_float_(1.0f);
      break;
    case IngestWithConfigDataChannelValue::kBool:
      value->set_bool_(true);
      break;
    case IngestWithConfigDataChannelValue::kInt32:
      value->set_int32(-1);
      break;
    case IngestWithConfigDataChannelValue::kUint32:
      value->set_uint32(1);
      break;
    case IngestWithConfigDataChannelValue::kInt64:
      value->set_int64(-1);
      break;
    case IngestWithConfigDataChannelValue::kUint64:
      value->set_uint64(1);
      break;
    case IngestWithConfigDataChannelValue::kBitField:
      value->set_bit_field("\x01");
      break;
    case IngestWithConfigDataChannelValue::kEnum:
      value->set_enum_(2);
      break;
    case IngestWithConfigDataChannelValue::kEmpty:
      value->mutable_empty();
      break;
    case IngestWithConfigDataChannelValue::kBytes:
      value->set_bytes("b");
      break;
    case IngestWithConfigDataChannelValue::TYPE_NOT_SET:
      value->Clear();
      break;
  }
}

// For a flow with one channel of every type (and one UNSPECIFIED), sets each channel in turn
// to each kind of value, the others `empty`: exactly the matching kind is valid.
TEST(ValidateRequestTest, EveryChannelTypeAcceptsOnlyItsOwnValueOrEmpty) {
  const std::vector<std::pair<types::ChannelDataType, TypeCase>> kTypes = {
      {types::CHANNEL_DATA_TYPE_DOUBLE, IngestWithConfigDataChannelValue::kDouble},
      {types::CHANNEL_DATA_TYPE_FLOAT, IngestWithConfigDataChannelValue::kFloat},
      {types::CHANNEL_DATA_TYPE_STRING, IngestWithConfigDataChannelValue::kString},
      {types::CHANNEL_DATA_TYPE_BOOL, IngestWithConfigDataChannelValue::kBool},
      {types::CHANNEL_DATA_TYPE_INT_32, IngestWithConfigDataChannelValue::kInt32},
      {types::CHANNEL_DATA_TYPE_UINT_32, IngestWithConfigDataChannelValue::kUint32},
      {types::CHANNEL_DATA_TYPE_INT_64, IngestWithConfigDataChannelValue::kInt64},
      {types::CHANNEL_DATA_TYPE_UINT_64, IngestWithConfigDataChannelValue::kUint64},
      {types::CHANNEL_DATA_TYPE_ENUM, IngestWithConfigDataChannelValue::kEnum},
      {types::CHANNEL_DATA_TYPE_BIT_FIELD, IngestWithConfigDataChannelValue::kBitField},
      {types::CHANNEL_DATA_TYPE_BYTES, IngestWithConfigDataChannelValue::kBytes},
      {types::CHANNEL_DATA_TYPE_UNSPECIFIED, IngestWithConfigDataChannelValue::TYPE_NOT_SET},
  };
  std::vector<types::ChannelDataType> channel_types;
  for (const auto& [type, value_case] : kTypes) channel_types.push_back(type);
  MapFlows flows;
  flows.Add(kTestConfig, Flow("all_types", channel_types));

  IngestRequest request;
  request.set_ingestion_config_id(kTestConfig);
  request.set_flow("all_types");
  for (size_t i = 0; i < kTypes.size(); ++i) request.add_channel_values()->mutable_empty();
  EXPECT_EQ(ValidateRequest(request, flows), "");  // All empty: valid for every type.

  for (size_t channel = 0; channel < kTypes.size(); ++channel) {
    for (size_t kind = 0; kind < kTypes.size(); ++kind) {
      IngestRequest one = request;
      SetCase(kTypes[kind].second, one.mutable_channel_values(channel));
      const bool valid = kTypes[kind].second == kTypes[channel].second &&
                         kTypes[kind].second != IngestWithConfigDataChannelValue::TYPE_NOT_SET;
      const std::string why = ValidateRequest(one, flows);
      EXPECT_EQ(why.empty(), valid) << "channel " << channel << ", value kind " << kind;
      if (!valid) {
        EXPECT_TRUE(absl::StrContains(why, absl::StrCat("value ", channel, " (channel"))) << why;
      }
    }
  }
}

TEST(ValidateRequestTest, ErrorsSayWhatIsWrong) {
  MapFlows flows;
  flows.Add(kTestConfig, VehicleFlow());
  const std::vector<IngestRequest> requests = OneOfEachInvalidKind();
  EXPECT_EQ(ValidateRequest(requests[0], flows), "");
  EXPECT_EQ(ValidateRequest(requests[1], flows),
            "no flow 'no_such_flow' in ingestion config 'config-1' (or no such config)");
  EXPECT_EQ(ValidateRequest(requests[2], flows),
            "no flow 'vehicle' in ingestion config 'no_such_config' (or no such config)");
  EXPECT_EQ(ValidateRequest(requests[3], flows),
            "flow 'vehicle' has 3 channels but the message has 2 values");
  EXPECT_EQ(ValidateRequest(requests[4], flows),
            "value 0 (channel 'vehicle_channel_0', CHANNEL_DATA_TYPE_DOUBLE) holds string");
  EXPECT_EQ(ValidateRequest(requests[5], flows),
            "value 1 (channel 'vehicle_channel_1', CHANNEL_DATA_TYPE_INT_32) holds no value "
            "(unset)");
}

}  // namespace
}  // namespace sift_stream::testing::ingest_test
