#include "testing/ingest_recorder.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sift_stream::testing {
namespace {

MessageKey Key(int64_t seconds, int32_t nanos = 0) {
  MessageKey key;
  key.ingestion_config_id = "config-1";
  key.flow = "vehicle";
  key.timestamp_seconds = seconds;
  key.timestamp_nanos = nanos;
  key.run_id = "run-1";
  return key;
}

// Sends keys [first, first + count) on one stream and ends it OK or failed.
void SendStream(IngestRecorder& recorder, int64_t first, int64_t count, bool ok) {
  IngestRecorder::Stream stream = recorder.BeginStream();
  for (int64_t i = first; i < first + count; ++i) stream.Received(Key(i), 10);
  if (ok) {
    stream.Completed();
  } else {
    stream.Failed();
  }
}

TEST(IngestRecorderTest, CompletedStreamCommitsItsKeys) {
  IngestRecorder recorder;
  SendStream(recorder, 0, 100, /*ok=*/true);
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.streams_opened, 1);
  EXPECT_EQ(stats.streams_completed, 1);
  EXPECT_EQ(stats.streams_failed, 0);
  EXPECT_EQ(stats.messages_received, 100);
  EXPECT_EQ(stats.bytes_received, 1000);
  EXPECT_EQ(stats.unique_messages, 100);
  EXPECT_EQ(stats.committed_messages, 100);
  EXPECT_EQ(stats.uncommitted_messages, 0);
  EXPECT_EQ(stats.duplicate_messages, 0);
  EXPECT_TRUE(recorder.Committed(Key(42)));
  EXPECT_EQ(recorder.ArrivalCount(Key(42)), 1);
}

TEST(IngestRecorderTest, KeysOfAStreamStillOpenAreNotCommitted) {
  IngestRecorder recorder;
  IngestRecorder::Stream stream = recorder.BeginStream();
  stream.Received(Key(1), 10);
  EXPECT_FALSE(recorder.Committed(Key(1)));
  EXPECT_EQ(recorder.Stats().uncommitted_messages, 1);
  stream.Completed();
  EXPECT_TRUE(recorder.Committed(Key(1)));
}

TEST(IngestRecorderTest, FailedStreamLeavesItsKeysUncommitted) {
  IngestRecorder recorder;
  SendStream(recorder, 0, 10, /*ok=*/true);
  SendStream(recorder, 10, 5, /*ok=*/false);
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.streams_completed, 1);
  EXPECT_EQ(stats.streams_failed, 1);
  EXPECT_EQ(stats.unique_messages, 15);
  EXPECT_EQ(stats.committed_messages, 10);
  EXPECT_EQ(stats.uncommitted_messages, 5);
  EXPECT_FALSE(recorder.Committed(Key(12)));
  EXPECT_EQ(recorder.ArrivalCount(Key(12)), 1);
}

TEST(IngestRecorderTest, ResendAfterFailureCommitsWithoutCommittedDuplicates) {
  IngestRecorder recorder;
  SendStream(recorder, 0, 50, /*ok=*/false);
  SendStream(recorder, 0, 50, /*ok=*/true);
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.unique_messages, 50);
  EXPECT_EQ(stats.duplicate_messages, 50);
  EXPECT_EQ(stats.committed_messages, 50);
  EXPECT_EQ(stats.uncommitted_messages, 0);
  EXPECT_EQ(stats.committed_duplicates, 0);
  EXPECT_EQ(recorder.ArrivalCount(Key(7)), 2);
}

TEST(IngestRecorderTest, SameKeysInTwoOkStreamsAreCommittedDuplicates) {
  IngestRecorder recorder;
  SendStream(recorder, 0, 100, /*ok=*/true);
  SendStream(recorder, 0, 100, /*ok=*/true);
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.messages_received, 200);
  EXPECT_EQ(stats.unique_messages, 100);
  EXPECT_EQ(stats.duplicate_messages, 100);
  EXPECT_EQ(stats.committed_messages, 100);
  EXPECT_EQ(stats.committed_duplicates, 100);
}

TEST(IngestRecorderTest, RepeatWithinOneOkStreamIsACommittedDuplicate) {
  IngestRecorder recorder;
  IngestRecorder::Stream stream = recorder.BeginStream();
  stream.Received(Key(1), 10);
  stream.Received(Key(1), 10);
  stream.Completed();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.unique_messages, 1);
  EXPECT_EQ(stats.duplicate_messages, 1);
  EXPECT_EQ(stats.committed_messages, 1);
  EXPECT_EQ(stats.committed_duplicates, 1);
}

TEST(IngestRecorderTest, KeysDifferingInAnyOneFieldAreDistinct) {
  IngestRecorder recorder;
  std::vector<MessageKey> keys(7, Key(5, 6));
  keys[1].ingestion_config_id = "config-2";
  keys[2].flow = "vehicle2";
  keys[3].timestamp_seconds = 6;
  keys[4].timestamp_nanos = 7;
  keys[5].run_id = "";
  // Field boundaries count: the same characters split differently are another key.
  keys[6].ingestion_config_id = "config-1v";
  keys[6].flow = "ehicle";
  IngestRecorder::Stream stream = recorder.BeginStream();
  for (const MessageKey& key : keys) stream.Received(key, 1);
  stream.Completed();
  EXPECT_EQ(recorder.Stats().unique_messages, 7);
  EXPECT_EQ(recorder.Stats().duplicate_messages, 0);
}

TEST(IngestRecorderTest, InvalidMessagesCountBytesButNoKeys) {
  IngestRecorder recorder;
  IngestRecorder::Stream stream = recorder.BeginStream();
  stream.Invalid(30);
  stream.Received(Key(1), 10);
  stream.Completed();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.invalid_messages, 1);
  EXPECT_EQ(stats.messages_received, 1);
  EXPECT_EQ(stats.bytes_received, 40);
  EXPECT_EQ(stats.unique_messages, 1);
}

TEST(IngestRecorderTest, RefusedStreamsCountAsFailed) {
  IngestRecorder recorder;
  recorder.BeginStream().Refused();
  recorder.BeginStream().RefusedUnauthenticated();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.streams_opened, 2);
  EXPECT_EQ(stats.streams_failed, 2);
  EXPECT_EQ(stats.streams_refused, 2);
  EXPECT_EQ(stats.streams_unauthenticated, 1);
}

TEST(IngestRecorderTest, StreamDestroyedWithoutAnEndingCountsAsFailed) {
  IngestRecorder recorder;
  {
    IngestRecorder::Stream stream = recorder.BeginStream();
    stream.Received(Key(1), 10);
    IngestRecorder::Stream moved = std::move(stream);  // Only one of the two may count.
  }
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.streams_failed, 1);
  EXPECT_EQ(stats.uncommitted_messages, 1);
}

TEST(IngestRecorderTest, ResetForgetsEverythingAndIgnoresOlderStreams) {
  IngestRecorder recorder;
  SendStream(recorder, 0, 10, /*ok=*/true);
  recorder.SinkReceived(5);
  IngestRecorder::Stream old_stream = recorder.BeginStream();
  old_stream.Received(Key(100), 10);
  recorder.Reset();
  old_stream.Received(Key(101), 10);
  old_stream.Completed();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.streams_opened, 0);
  EXPECT_EQ(stats.streams_completed, 0);
  EXPECT_EQ(stats.messages_received, 0);
  EXPECT_EQ(stats.unique_messages, 0);
  EXPECT_EQ(stats.sink_messages, 0);
  EXPECT_FALSE(recorder.Committed(Key(1)));
  EXPECT_FALSE(recorder.Committed(Key(101)));
}

TEST(IngestRecorderTest, ConcurrentStreamsCountEveryMessage) {
  IngestRecorder recorder;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Threads 0 and 1 send the same keys; 2 and 3 disjoint ones; odd threads fail.
    const int64_t first = t < 2 ? 0 : t * kPerThread;
    threads.emplace_back(
        [&recorder, first, t] { SendStream(recorder, first, kPerThread, t % 2 == 0); });
  }
  for (std::thread& thread : threads) thread.join();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.messages_received, kThreads * kPerThread);
  EXPECT_EQ(stats.unique_messages, 3 * kPerThread);
  EXPECT_EQ(stats.duplicate_messages, kPerThread);
  EXPECT_EQ(stats.committed_messages, 2 * kPerThread);  // Threads 0 and 2.
  EXPECT_EQ(stats.uncommitted_messages, kPerThread);    // Thread 3's.
  EXPECT_EQ(stats.committed_duplicates, 0);
}

// A test pushing millions of messages must neither run out of memory nor see two distinct
// keys collide in the 96-bit ids.
TEST(IngestRecorderTest, OneMillionDistinctKeysStayDistinct) {
  IngestRecorder recorder;
  IngestRecorder::Stream stream = recorder.BeginStream();
  for (int64_t i = 0; i < 1000000; ++i) {
    stream.Received(Key(1764000000 + i / 1000, static_cast<int32_t>(i % 1000) * 1000000), 50);
  }
  stream.Completed();
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.unique_messages, 1000000);
  EXPECT_EQ(stats.committed_messages, 1000000);
  EXPECT_EQ(stats.duplicate_messages, 0);
}

TEST(IngestRecorderTest, SinkCountersAndCpuPerMessage) {
  IngestRecorder recorder;
  recorder.SinkStreamOpened();
  recorder.SinkStreamOpened();
  recorder.SinkStreamRefused();
  for (int i = 0; i < 1000; ++i) recorder.SinkReceived(100);
  const IngestStats stats = recorder.Stats();
  EXPECT_EQ(stats.sink_streams, 2);
  EXPECT_EQ(stats.sink_streams_refused, 1);
  EXPECT_EQ(stats.sink_messages, 1000);
  EXPECT_EQ(stats.sink_bytes, 100000);
  EXPECT_GE(stats.server_cpu_ns_per_message, 0);
  EXPECT_EQ(IngestRecorder().Stats().server_cpu_ns_per_message, 0);  // No messages: no ratio.
}

TEST(IngestRecorderTest, ToJsonNamesEveryFieldInSnakeCase) {
  IngestStats stats;
  stats.streams_opened = 3;
  stats.committed_duplicates = 7;
  stats.server_cpu_ns_per_message = 12.25;
  const std::string json = stats.ToJson();
  EXPECT_TRUE(absl::StartsWith(json, "{\"streams_opened\":3,")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"committed_duplicates\":7,")) << json;
  EXPECT_TRUE(absl::EndsWith(json, ",\"server_cpu_ns_per_message\":12.2}") ||
              absl::EndsWith(json, ",\"server_cpu_ns_per_message\":12.3}"))
      << json;
  for (const char* name :
       {"streams_completed", "streams_failed", "streams_refused", "streams_unauthenticated",
        "messages_received", "bytes_received", "invalid_messages", "unique_messages",
        "duplicate_messages", "committed_messages", "uncommitted_messages", "sink_streams",
        "sink_streams_refused", "sink_messages", "sink_bytes"}) {
    EXPECT_TRUE(absl::StrContains(json, absl::StrCat("\"", name, "\":0"))) << name;
  }
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sift_stream::testing
