// engine/task_test_fixture.h — what the tests of the reactor's tasks share: an in-process
// fake Sift with one registered flow, a real ring and completion-queue poller, a control bus,
// and the reactor's loop (poll gRPC, deliver control messages, step the task, wait in the ring).
//
// Test-only.

#ifndef SIFT_STREAM_ENGINE_TASK_TEST_FIXTURE_H_
#define SIFT_STREAM_ENGINE_TASK_TEST_FIXTURE_H_

#include <algorithm>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/completion_queue_poller.h"
#include "engine/control_message.h"
#include "gtest/gtest.h"
#include "io/ring.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "testing/fake_sift.h"

namespace sift_stream::engine {

class TaskTest : public ::testing::Test {
 protected:
  static constexpr char kKey[] = "engine-task-test";

  // A fake Sift accepting kKey, with flow "f" (one double channel) registered.
  void SetUp() override {
    sift_stream::testing::FakeSiftOptions options;
    options.api_keys = {kKey};
    auto sift = sift_stream::testing::FakeSift::Start(options);
    ASSERT_TRUE(sift.ok()) << sift.status();
    sift_ = std::move(sift).value();
    sift::ingestion_configs::v2::CreateIngestionConfigRequest create;
    create.set_asset_name("rig");
    auto* flow = create.add_flows();
    flow->set_name("f");
    auto* channel = flow->add_channels();
    channel->set_name("v");
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
    auto config = sift_->registry().CreateIngestionConfig(create);
    ASSERT_TRUE(config.ok()) << config.status();
    config_id_ = config->ingestion_config_id();
    ring_ = std::move(io::Ring::Create(64)).value();
    poller_ = std::make_unique<CompletionQueuePoller>(&cq_);
  }

  // Message i of flow "f": timestamp i microseconds, value i.
  std::string Message(int64_t i) const {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_ingestion_config_id(config_id_);
    request.set_flow("f");
    request.mutable_timestamp()->set_seconds(i / 1000000);
    request.mutable_timestamp()->set_nanos(static_cast<int32_t>(i % 1000000) * 1000);
    request.add_channel_values()->set_double_(static_cast<double>(i));
    return request.SerializeAsString();
  }

  // The reactor's loop around `task` until `done()` or `timeout`; `state()` names the task's
  // state in the failure message.
  template <typename Task, typename Done, typename StateName>
  void RunLoop(Task& task, Done done, absl::Duration timeout, StateName state) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!done() && absl::Now() < deadline) {
      poller_->Poll();
      bus_.Deliver();
      task.Step();
      ASSERT_TRUE(ring_->RunOnce(std::min(poller_->NextWait(), absl::Milliseconds(5))).ok());
    }
    bus_.Deliver();
    ASSERT_TRUE(done()) << "timed out in state " << state();
  }

  std::unique_ptr<sift_stream::testing::FakeSift> sift_;
  std::string config_id_;
  std::unique_ptr<io::Ring> ring_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<CompletionQueuePoller> poller_;
  ControlBus bus_;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_TASK_TEST_FIXTURE_H_
