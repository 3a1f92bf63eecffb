// docs/snippets/doc_snippets_test.cc — runs the docs' examples that can run on loopback, as
// the docs show them, against the fake Sift: configuration.md's FlowWriter example and
// fake_sift.md's test of "your" uploader.

#include <sys/stat.h>

#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/sift_stream.h"
#include "gtest/gtest.h"
#include "testing/fake_sift.h"

namespace sift_stream_docs {
namespace {

using sift::common::type::v1::CHANNEL_DATA_TYPE_BOOL;
using sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE;

constexpr char kKey[] = "k";  // The key fake_sift.md's example gives its server.

std::string FreshDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(dir.c_str(), 0700);
  return dir;
}

// The flow configuration.md's example writes: six doubles, then a bool at index 6.
sift::ingestion_configs::v2::FlowConfig ImuFlow() {
  sift::ingestion_configs::v2::FlowConfig imu;
  imu.set_name("imu");
  for (const char* name : {"accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z"}) {
    auto* channel = imu.add_channels();
    channel->set_name(name);
    channel->set_data_type(CHANNEL_DATA_TYPE_DOUBLE);
  }
  auto* saturated = imu.add_channels();
  saturated->set_name("saturated");
  saturated->set_data_type(CHANNEL_DATA_TYPE_BOOL);
  return imu;
}

absl::StatusOr<std::unique_ptr<sift_stream::SiftStream>> StreamTo(const std::string& address,
                                                                  const std::string& key,
                                                                  const std::string& dir) {
  sift_stream::IngestionConfigSpec config;
  config.asset_name = "docs-rig";
  config.client_key = "docs-rig-v1";
  config.flows = {ImuFlow()};
  sift_stream::DiskBackupPolicy backups;
  backups.backup_dir = dir;
  return sift_stream::SiftStreamBuilder()
      .Uri(address).ApiKey(key).Tls(false)
      .IngestionConfig(config).Backups(backups)
      .CheckpointInterval(absl::Milliseconds(200))
      .Build();
}

// configuration.md, "The fast path": `stream` is the only name it takes from its context.
absl::Status ConfigurationExample(sift_stream::SiftStream* stream) {
#include "docs/snippets/configuration_1.inc"
  return sent;
}

TEST(ConfigurationMd, FlowWriterExampleSendsWhatItSays) {
  sift_stream::testing::FakeSiftOptions options;
  options.api_keys = {kKey};
  auto sift = sift_stream::testing::FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  auto stream = StreamTo((*sift)->address(), kKey, FreshDir("configuration"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(ConfigurationExample(stream->get()).ok());
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  EXPECT_EQ((*sift)->Stats().ingest.committed_messages, 1);
}

// configuration.md, "Runs while streaming": it takes `stream`, `spec` and `values`.
absl::StatusOr<std::string> AttachRunExample(sift_stream::SiftStream* stream,
                                             const sift_stream::RunSpec& spec,
                                             absl::Span<const sift_stream::ChannelValue> values) {
#include "docs/snippets/configuration_2.inc"
  if (!sent.ok()) return sent;
  if (!detached.ok()) return detached;
  return run;
}

TEST(ConfigurationMd, AttachRunExampleCreatesTheRunAndSendsIntoIt) {
  sift_stream::testing::FakeSiftOptions options;
  options.api_keys = {kKey};
  auto sift = sift_stream::testing::FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  auto stream = StreamTo((*sift)->address(), kKey, FreshDir("attach_run"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  sift_stream::RunSpec spec;
  spec.kind = sift_stream::RunSpec::Kind::kNew;
  spec.name = "docs run";
  std::vector<sift_stream::ChannelValue> values(6, sift_stream::ChannelValue::Double(1.5));
  values.push_back(sift_stream::ChannelValue::Bool(false));
  absl::StatusOr<std::string> run = AttachRunExample(stream->get(), spec, values);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ((*stream)->run_id(), "");  // The example detaches at the end.
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  EXPECT_EQ((*sift)->Stats().ingest.committed_messages, 1);
  auto runs = (*sift)->registry().ListRuns(sift::runs::v2::ListRunsRequest());
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->runs_size(), 1);
  EXPECT_EQ(runs->runs(0).run_id(), *run);
  EXPECT_EQ(runs->runs(0).name(), "docs run");
}

// configuration.md, "A producer faster than the stream": `stream`, `t` and `values`.
absl::Status WaitForRoomExample(sift_stream::SiftStream* stream, absl::Time t,
                                absl::Span<const sift_stream::ChannelValue> values) {
#include "docs/snippets/configuration_3.inc"
  return s;
}

TEST(ConfigurationMd, WaitForRoomExampleSendsEverythingThroughATinyQueue) {
  sift_stream::testing::FakeSiftOptions options;
  options.api_keys = {kKey};
  auto sift = sift_stream::testing::FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  sift_stream::IngestionConfigSpec config;
  config.asset_name = "docs-rig";
  config.client_key = "docs-rig-v1";
  config.flows = {ImuFlow()};
  sift_stream::DiskBackupPolicy backups;
  backups.backup_dir = FreshDir("wait_for_room");
  auto stream = sift_stream::SiftStreamBuilder()
                    .Uri((*sift)->address()).ApiKey(kKey).Tls(false)
                    .IngestionConfig(config).Backups(backups)
                    .DataCapacity(8)  // Full all the time: the example must wait.
                    .Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<sift_stream::ChannelValue> values(6, sift_stream::ChannelValue::Double(0.5));
  values.push_back(sift_stream::ChannelValue::Bool(true));
  const absl::Time start = absl::Now();
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(WaitForRoomExample(stream->get(), start + absl::Microseconds(i), values).ok());
  }
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  EXPECT_EQ((*sift)->Stats().ingest.committed_messages, 5000);
  EXPECT_GT((*stream)->Metrics().messages_refused, 0u) << "the queue never filled";
}

// configuration.md, "Never waiting": a producer's backlog of refused requests, drained with
// TrySend; `backlog`, `request` and `stream` come from its context.
void TrySendExample(
    sift_stream::SiftStream* stream,
    std::deque<sift::ingest::v1::IngestWithConfigDataStreamRequest>& backlog,
    sift::ingest::v1::IngestWithConfigDataStreamRequest request) {
#include "docs/snippets/configuration_4.inc"
}

TEST(ConfigurationMd, TrySendExampleDrainsTheBacklogIntoTheStream) {
  sift_stream::testing::FakeSiftOptions options;
  options.api_keys = {kKey};
  auto sift = sift_stream::testing::FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  auto stream = StreamTo((*sift)->address(), kKey, FreshDir("configuration_try_send"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::deque<sift::ingest::v1::IngestWithConfigDataStreamRequest> backlog;
  for (int i = 0; i < 3; ++i) {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_flow("imu");
    request.mutable_timestamp()->set_seconds(1764000000 + i);
    for (int c = 0; c < 6; ++c) request.add_channel_values()->set_double_(c);
    request.add_channel_values()->set_bool_(true);
    TrySendExample(stream->get(), backlog, std::move(request));
  }
  // TrySend may refuse even an idle stream ("busy": the reactor held the queue's lock through
  // every try, e.g. preempted on a loaded machine); the producer's next turns send the rest.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!backlog.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
    while (!backlog.empty() && (*stream)->TrySend(backlog.front()).ok()) backlog.pop_front();
  }
  EXPECT_TRUE(backlog.empty()) << backlog.size() << " refused for 10 s";
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(10)).ok());
  EXPECT_EQ((*sift)->Stats().ingest.committed_messages, 3);
}

// The uploader fake_sift.md's test is written for: it streams `count` messages in Start()
// and finishes in FinishAll(), with whatever happened to the server in between.
class MyUploader {
 public:
  MyUploader(std::string address, std::string key)
      : address_(std::move(address)), key_(std::move(key)) {}
  void Start() {
    auto stream = StreamTo(address_, key_, FreshDir("uploader"));
    ASSERT_TRUE(stream.ok()) << stream.status();
    stream_ = std::move(*stream);
    auto imu = stream_->Flow("imu");
    ASSERT_TRUE(imu.ok()) << imu.status();
    const absl::Time start = absl::Now();
    for (int i = 0; i < 5000; ++i) {
      imu->SetDouble(0, i).SetBool(6, i % 2 == 0);
      absl::Status s = imu->Send(start + absl::Microseconds(i));
      if (absl::IsResourceExhausted(s)) {
        absl::SleepFor(absl::Milliseconds(1));
        --i;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      ++sent_;
    }
  }
  void FinishAll() { EXPECT_TRUE(stream_->Finish(absl::Seconds(30)).ok()); }
  int sent() const { return sent_; }

 private:
  std::string address_;
  std::string key_;
  std::unique_ptr<sift_stream::SiftStream> stream_;
  int sent_ = 0;
};

}  // namespace
}  // namespace sift_stream_docs

namespace {
using sift_stream_docs::MyUploader;
#include "docs/snippets/fake_sift_1.inc"
}  // namespace
