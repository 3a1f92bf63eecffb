// Compress(): what crosses the wire shrinks (counted by a TCP relay between the stream and
// the fake Sift), and nothing is lost on the way, live or re-ingested.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "engine/sift_stream_test_fixture.h"
#include "gtest/gtest.h"
#include "testing/tcp_relay.h"

namespace sift_stream {
namespace {

using testing::TcpRelay;

constexpr int kMessages = 3000;

// A flow of `channels` doubles.
IngestionConfigSpec DoublesConfig(int channels) {
  IngestionConfigSpec config;
  config.asset_name = "stand";
  config.client_key = "stand-v1";
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("doubles");
  for (int c = 0; c < channels; ++c) {
    auto* channel = flow.add_channels();
    channel->set_name(absl::StrCat("sensor_", c));
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  }
  config.flows = {flow};
  return config;
}

class CompressionTest : public SiftStreamTest {
 protected:
  // Streams kMessages messages of `channels` doubles through a relay; returns the bytes the
  // relay carried to the server (0 after a failed assertion). Wide messages are what test
  // stands send: values that change slowly; narrow ones hold distinct values, as the bench's.
  uint64_t Stream(Compression compression, int channels, const std::string& subdir) {
    auto relay = TcpRelay::Start(sift_->address());
    EXPECT_TRUE(relay.ok()) << relay.status();
    if (!relay.ok()) return 0;
    DiskBackupPolicy backups;
    backups.backup_dir = absl::StrCat(backup_dir_, "/", subdir);
    mkdir(backups.backup_dir.c_str(), 0700);
    auto stream = Builder()
                      .Uri((*relay)->address())
                      .IngestionConfig(DoublesConfig(channels))
                      .Backups(backups)
                      .Compress(compression)
                      .Build();
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return 0;
    std::vector<ChannelValue> values(channels, ChannelValue::Double(0));
    const int64_t base = 1764000000000000 + static_cast<int64_t>(compression) * 1000000000;
    for (int i = 0; i < kMessages; ++i) {
      for (int c = 0; c < channels; ++c) {
        values[c] = ChannelValue::Double(channels > 10 ? 20.0 + (i / 100) % 7 : i * 0.001 + c);
      }
      absl::Status s;
      do {
        s = (*stream)->Send("doubles", absl::FromUnixMicros(base + i), values);
        if (absl::IsResourceExhausted(s)) absl::SleepFor(absl::Milliseconds(1));
      } while (absl::IsResourceExhausted(s));
      EXPECT_TRUE(s.ok()) << s;
    }
    EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
    stream->reset();
    return (*relay)->bytes_to_upstream();
  }
};

TEST_F(CompressionTest, GzipShrinksWideMessagesOnTheWireAndLosesNothing) {
  const uint64_t plain = Stream(Compression::kNone, 100, "plain");
  ExpectNothingLost(kMessages);
  const uint64_t gzip = Stream(Compression::kGzip, 100, "gzip");
  ExpectNothingLost(2 * kMessages);
  std::printf("%d messages of 100 slow doubles: %llu bytes plain, %llu gzip (%.2fx)\n",
              kMessages, static_cast<unsigned long long>(plain),
              static_cast<unsigned long long>(gzip), static_cast<double>(gzip) / plain);
  ASSERT_GT(plain, uint64_t{kMessages} * 100 * 9);  // 9 bytes per double.
  EXPECT_LT(gzip, plain / 2);
}

// gRPC sends a message that would not shrink as it is: compression never costs bytes.
TEST_F(CompressionTest, DistinctNarrowMessagesShrinkLessButNeverGrow) {
  const uint64_t plain = Stream(Compression::kNone, 10, "plain");
  const uint64_t gzip = Stream(Compression::kGzip, 10, "gzip");
  ExpectNothingLost(2 * kMessages);
  std::printf("%d messages of 10 distinct doubles: %llu bytes plain, %llu gzip (%.2fx)\n",
              kMessages, static_cast<unsigned long long>(plain),
              static_cast<unsigned long long>(gzip), static_cast<double>(gzip) / plain);
  EXPECT_LT(gzip, plain * 21 / 20);
}

TEST_F(CompressionTest, DeflateWorksToo) {
  const uint64_t plain = Stream(Compression::kNone, 100, "plain");
  const uint64_t deflate = Stream(Compression::kDeflate, 100, "deflate");
  ExpectNothingLost(2 * kMessages);
  EXPECT_LT(deflate, plain / 2);
}

TEST_F(CompressionTest, ReingestedCheckpointsAreCompressedAndCommitted) {
  FaultPlan plan;
  plan.end_stream = {1, false};  // The first stream (live, checkpoint 1) is cut after 50.
  plan.end_stream_after_messages = 50;
  sift_->SetFaults(plan);
  // One long checkpoint: the first stream surely carries more than 50 messages.
  auto stream =
      Builder().Compress(Compression::kGzip).CheckpointInterval(absl::Seconds(5)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SendAll(**stream, 1, 5000);
  EXPECT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_GE((*stream)->Metrics().messages_reingested, 50u);  // Checkpoint 1, from disk.
  ExpectNothingLost(5000);
}

}  // namespace
}  // namespace sift_stream
