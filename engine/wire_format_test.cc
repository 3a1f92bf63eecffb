// The wire-format check re-ingestion applies to each frame: what protobuf writes passes, what
// no serializer writes fails.
#include "engine/wire_format.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/sift/ingest/v1/ingest.pb.h"

namespace sift_stream::engine::wire {
namespace {

TEST(IsWellFormedMessageTest, WhatProtobufSerializesPasses) {
  sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  EXPECT_TRUE(IsWellFormedMessage(request.SerializeAsString()));  // Empty: no fields.
  request.set_ingestion_config_id("cfg");
  request.set_flow("imu");
  request.mutable_timestamp()->set_seconds(1700000000);
  request.add_channel_values()->set_double_(1.5);
  request.add_channel_values()->set_int64(-3);
  request.add_channel_values()->set_string("");
  request.add_channel_values()->set_float_(2.5f);
  request.set_end_stream_on_validation_error(true);
  EXPECT_TRUE(IsWellFormedMessage(request.SerializeAsString()));
}

TEST(IsWellFormedMessageTest, WhatNoSerializerWritesFails) {
  sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  request.set_flow("imu");
  const std::string good = request.SerializeAsString();
  EXPECT_FALSE(IsWellFormedMessage(good.substr(0, good.size() - 1)));  // Length runs past.
  EXPECT_FALSE(IsWellFormedMessage(std::string(64, '\xff')));          // Endless varint.
  EXPECT_FALSE(IsWellFormedMessage(std::string("\x00\x01", 2)));       // Field number 0.
  EXPECT_FALSE(IsWellFormedMessage(std::string("\x0b", 1)));           // Group start.
  EXPECT_FALSE(IsWellFormedMessage(std::string("\x0e\x00", 2)));       // Wire type 6.
  EXPECT_FALSE(IsWellFormedMessage(std::string("\x09\x01\x02", 3)));   // 64-bit cut short.
  EXPECT_FALSE(IsWellFormedMessage("timestamp,value\n1,2\n"));
}

}  // namespace
}  // namespace sift_stream::engine::wire
