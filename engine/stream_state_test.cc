// StreamState: a producer sees every change published before its read, never a stale or a
// foreign builder — including when one thread uses two streams, the case the per-thread cache
// must tell apart.

#include "engine/stream_state.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sift_stream::engine {
namespace {

sift::ingestion_configs::v2::FlowConfig Flow(const std::string& name) {
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name(name);
  auto* channel = flow.add_channels();
  channel->set_name("x");
  channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  return flow;
}

TEST(StreamStateTest, ReadAfterPublishSeesTheNewBuilderOnTheSameThread) {
  StreamState state(RequestBuilder("cfg", "", {Flow("f")}));
  EXPECT_EQ(state.ForThisThread().run_id(), "");
  const uint64_t before = state.generation();
  state.Publish(state.Load().builder->WithRunId("run-1"));
  EXPECT_GT(state.generation(), before);
  EXPECT_EQ(state.ForThisThread().run_id(), "run-1");
  state.Publish(state.Load().builder->WithFlows({Flow("g")}));
  EXPECT_EQ(state.ForThisThread().run_id(), "run-1");  // Kept by WithFlows.
  EXPECT_NE(state.ForThisThread().Find("g"), nullptr);
  EXPECT_EQ(state.Load().generation, state.generation());
}

TEST(StreamStateTest, OneThreadUsingTwoStreamsNeverGetsTheOtherStreamsBuilder) {
  // Same generation numbers on both: only the stream's identity tells the caches apart.
  StreamState a(RequestBuilder("cfg-a", "run-a", {Flow("f")}));
  StreamState b(RequestBuilder("cfg-b", "run-b", {Flow("f")}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.ForThisThread().ingestion_config_id(), "cfg-a");
    EXPECT_EQ(b.ForThisThread().ingestion_config_id(), "cfg-b");
  }
  // A stream made where a destroyed one was must not inherit its cache entry either.
  for (int i = 0; i < 3; ++i) {
    auto first = std::make_unique<StreamState>(RequestBuilder("old", "", {Flow("f")}));
    EXPECT_EQ(first->ForThisThread().ingestion_config_id(), "old");
    first.reset();
    auto second = std::make_unique<StreamState>(RequestBuilder("new", "", {Flow("f")}));
    EXPECT_EQ(second->ForThisThread().ingestion_config_id(), "new");
  }
}

TEST(StreamStateTest, ReadersRacingWithPublishersSeeWholeBuildersInPublishOrder) {
  StreamState state(RequestBuilder("cfg", "run-0", {Flow("f")}));
  constexpr int kPublishes = 300;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (!done.load()) {
        const RequestBuilder& builder = state.ForThisThread();
        // Run "run-N" always comes with flow "fN" (published together, or not at all).
        const int n = std::stoi(builder.run_id().substr(4));
        ASSERT_NE(builder.Find(n == 0 ? "f" : absl::StrCat("f", n)), nullptr) << n;
        ASSERT_GE(n, last) << "went back";
        last = n;
      }
    });
  }
  for (int n = 1; n <= kPublishes; ++n) {
    state.Publish(
        state.Load().builder->WithFlows({Flow(absl::StrCat("f", n))}).WithRunId(
            absl::StrCat("run-", n)));
  }
  done.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(state.ForThisThread().run_id(), absl::StrCat("run-", kPublishes));
}

}  // namespace
}  // namespace sift_stream::engine
