// Runs attached and detached while streaming (SiftStream::AttachRun, DetachRun), end to end
// against the fake Sift: which run id each committed message carries, through Send, through a
// FlowWriter made before the change, from concurrent producers, and after the live stream is
// cut and the checkpoint re-ingested from the backup files.

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

absl::Time At(int64_t i) { return absl::FromUnixMicros(1764000000000000 + i); }

RunSpec NewRun(std::string name) {
  RunSpec run;
  run.kind = RunSpec::Kind::kNew;
  run.name = std::move(name);
  return run;
}

RunSpec RunByKey(std::string client_key) {
  RunSpec run;
  run.kind = RunSpec::Kind::kByClientKey;
  run.client_key = std::move(client_key);
  run.name = "run " + run.client_key;
  return run;
}

class RunsMidStreamTest : public SiftStreamTest {
 protected:
  // Sends message `i` of flow "f", retrying while the queue is full.
  static void SendOne(SiftStream& stream, int64_t i) {
    absl::Status s;
    do {
      s = stream.Send("f", At(i), {ChannelValue::Double(i), ChannelValue::Double(-i)});
      if (absl::IsResourceExhausted(s)) absl::SleepFor(absl::Milliseconds(1));
    } while (absl::IsResourceExhausted(s));
    ASSERT_TRUE(s.ok()) << s;
  }

  static void SendWithWriter(FlowWriter& writer, int64_t i) {
    absl::Status s;
    do {
      writer.SetDouble(0, i).SetDouble(1, -i);
      s = writer.Send(At(i));
      if (absl::IsResourceExhausted(s)) absl::SleepFor(absl::Milliseconds(1));
    } while (absl::IsResourceExhausted(s));
    ASSERT_TRUE(s.ok()) << s;
  }

  // How often message `i` of flow "f" arrived carrying `run_id`, and whether it was committed.
  int64_t Arrivals(const std::string& config_id, int64_t i, const std::string& run_id) {
    return sift_->recorder().ArrivalCount(Key(config_id, i, run_id));
  }
  bool Committed(const std::string& config_id, int64_t i, const std::string& run_id) {
    return sift_->recorder().Committed(Key(config_id, i, run_id));
  }

  // Message `i` was committed with `expected` and never arrived with any other of `runs`.
  void ExpectCarried(const std::string& config_id, int64_t i, const std::string& expected,
                     const std::vector<std::string>& runs) {
    EXPECT_TRUE(Committed(config_id, i, expected))
        << "message " << i << " not committed with run '" << expected << "'";
    for (const std::string& other : runs) {
      if (other == expected) continue;
      EXPECT_EQ(Arrivals(config_id, i, other), 0)
          << "message " << i << " arrived with run '" << other << "', expected '" << expected
          << "'";
    }
  }

  int64_t RunCount() {
    auto runs = sift_->registry().ListRuns(sift::runs::v2::ListRunsRequest());
    return runs.ok() ? runs->runs_size() : -1;
  }

 private:
  static testing::MessageKey Key(const std::string& config_id, int64_t i,
                                 const std::string& run_id) {
    const int64_t nanos = absl::ToUnixNanos(At(i));
    testing::MessageKey key;
    key.ingestion_config_id = config_id;
    key.flow = "f";
    key.timestamp_seconds = nanos / 1000000000;
    key.timestamp_nanos = static_cast<int32_t>(nanos % 1000000000);
    key.run_id = run_id;
    return key;
  }
};

TEST_F(RunsMidStreamTest, EachMessageCarriesTheRunCurrentWhenItWasSent) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  const std::string config = s.ingestion_config_id();
  // Made before any run: it must pick up each change, as Send does.
  absl::StatusOr<FlowWriter> writer = s.Flow("f");
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ(s.run_id(), "");

  for (int i = 0; i < 100; ++i) SendOne(s, i);
  for (int i = 100; i < 150; ++i) SendWithWriter(*writer, i);
  absl::StatusOr<std::string> a = s.AttachRun(NewRun("first"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(s.run_id(), *a);
  for (int i = 150; i < 250; ++i) SendOne(s, i);
  for (int i = 250; i < 300; ++i) SendWithWriter(*writer, i);
  absl::StatusOr<std::string> b = s.AttachRun(RunByKey("second"));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_NE(*a, *b);
  for (int i = 300; i < 400; ++i) SendOne(s, i);
  for (int i = 400; i < 450; ++i) SendWithWriter(*writer, i);
  ASSERT_TRUE(s.DetachRun().ok());
  EXPECT_EQ(s.run_id(), "");
  for (int i = 450; i < 500; ++i) SendWithWriter(*writer, i);
  for (int i = 500; i < 600; ++i) SendOne(s, i);

  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(600);
  const std::vector<std::string> runs = {"", *a, *b};
  for (int i = 0; i < 600; ++i) {
    const std::string& expected =
        i < 150 ? runs[0] : i < 300 ? runs[1] : i < 450 ? runs[2] : runs[0];
    ExpectCarried(config, i, expected, runs);
  }
  EXPECT_TRUE(sift_->registry().RunExists(*a));
  EXPECT_TRUE(sift_->registry().RunExists(*b));
}

TEST_F(RunsMidStreamTest, AttachByClientKeyFindsTheExistingRunInsteadOfCreatingOne) {
  sift::runs::v2::CreateRunRequest create;
  create.set_name("existing");
  create.set_client_key("drive-7");
  auto existing = sift_->registry().CreateRun(create);
  ASSERT_TRUE(existing.ok()) << existing.status();
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();

  absl::StatusOr<std::string> run = (*stream)->AttachRun(RunByKey("drive-7"));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(*run, existing->run_id());
  EXPECT_EQ(RunCount(), 1);
  RunSpec by_id;
  by_id.kind = RunSpec::Kind::kById;
  by_id.run_id = existing->run_id();
  run = (*stream)->AttachRun(by_id);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(*run, existing->run_id());
  SendOne(**stream, 0);
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectCarried((*stream)->ingestion_config_id(), 0, existing->run_id(), {""});
}

TEST_F(RunsMidStreamTest, FailedAttachKeepsTheCurrentRunAndSaysWhy) {
  auto stream = Builder().Run(NewRun("kept")).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  const std::string kept = (*stream)->run_id();
  ASSERT_FALSE(kept.empty());

  RunSpec unknown;
  unknown.kind = RunSpec::Kind::kById;
  unknown.run_id = "no-such-run";
  absl::StatusOr<std::string> run = (*stream)->AttachRun(unknown);
  EXPECT_TRUE(absl::IsNotFound(run.status())) << run.status();
  EXPECT_TRUE(absl::StrContains(run.status().message(), "GetRun")) << run.status();
  run = (*stream)->AttachRun(RunSpec());
  EXPECT_TRUE(absl::IsInvalidArgument(run.status())) << run.status();
  RunSpec keyless;
  keyless.kind = RunSpec::Kind::kByClientKey;
  run = (*stream)->AttachRun(keyless);
  EXPECT_TRUE(absl::IsInvalidArgument(run.status())) << run.status();
  EXPECT_EQ((*stream)->run_id(), kept);

  SendOne(**stream, 0);
  ASSERT_TRUE((*stream)->Finish(absl::Seconds(30)).ok());
  ExpectCarried((*stream)->ingestion_config_id(), 0, kept, {""});
  EXPECT_TRUE(absl::IsFailedPrecondition((*stream)->AttachRun(NewRun("late")).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition((*stream)->DetachRun()));
}

// The run id is in each message's bytes, so the backup files hold it: a checkpoint cut after
// an attach and re-ingested from disk commits every message under the run it was sent in.
TEST_F(RunsMidStreamTest, RunIdsSurviveReingestionFromDiskAfterTheStreamIsCut) {
  FaultPlan plan;
  plan.end_stream = {1, false};  // The first live stream, which carries the whole checkpoint,
  plan.end_stream_after_messages = 750;  // is cut among the messages of the attached run.
  sift_->SetFaults(plan);
  auto stream = Builder().Run(NewRun("before")).CheckpointInterval(absl::Hours(1)).Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  const std::string a = s.run_id();
  for (int i = 0; i < 500; ++i) SendOne(s, i);
  absl::StatusOr<std::string> b = s.AttachRun(NewRun("after"));
  ASSERT_TRUE(b.ok()) << b.status();
  for (int i = 500; i < 1000; ++i) SendOne(s, i);
  ASSERT_TRUE(s.DetachRun().ok());
  for (int i = 1000; i < 1500; ++i) SendOne(s, i);

  ASSERT_TRUE(s.Finish(absl::Seconds(30)).ok());
  ExpectNothingLost(1500);
  const SiftStreamMetrics m = s.Metrics();
  EXPECT_GE(m.checkpoints_failed, 1u);
  EXPECT_GE(m.reingest_jobs_done, 1u);
  EXPECT_GE(m.messages_reingested, 750u) << "the cut checkpoint was not re-ingested from disk";
  // Arrived on the cut stream and again from disk.
  EXPECT_GE(sift_->Stats().ingest.duplicate_messages, 500);
  const std::vector<std::string> runs = {"", a, *b};
  for (int i = 0; i < 1500; ++i) {
    ExpectCarried(s.ingestion_config_id(), i, i < 500 ? a : i < 1000 ? *b : "", runs);
  }
}

// Per calling thread: a message sent after the producer saw AttachRun return carries the new
// run, one that returned before AttachRun was called the old, and no thread goes back.
TEST_F(RunsMidStreamTest, ConcurrentProducersSwitchRunAtAMessageBoundaryInTheirOwnOrder) {
  auto stream = Builder().Build();
  ASSERT_TRUE(stream.ok()) << stream.status();
  SiftStream& s = **stream;
  constexpr int kProducers = 4;
  constexpr int64_t kStride = 1000000;  // Producer p sends messages p * kStride + n.
  std::atomic<bool> attached{false};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_returned[kProducers];
  int64_t first_after[kProducers];
  int64_t sent[kProducers];
  for (auto& n : last_returned) n.store(-1);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      absl::StatusOr<FlowWriter> writer = s.Flow("f");
      ASSERT_TRUE(writer.ok());
      first_after[p] = -1;
      int64_t n = 0;
      // After the attach, enough messages to prove the switch, then stop.
      for (; n < kStride / 2 && (!stop.load() || first_after[p] < 0 || n < first_after[p] + 200);
           ++n) {
        const bool saw_attach = attached.load();
        if (saw_attach && first_after[p] < 0) first_after[p] = n;
        // Half the producers use the fast path: it must switch exactly like Send.
        if (p % 2 == 0) {
          SendOne(s, p * kStride + n);
        } else {
          SendWithWriter(*writer, p * kStride + n);
        }
        last_returned[p].store(n);
      }
      sent[p] = n;
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  int64_t before[kProducers];
  for (int p = 0; p < kProducers; ++p) before[p] = last_returned[p].load();
  absl::StatusOr<std::string> run = s.AttachRun(NewRun("concurrent"));
  ASSERT_TRUE(run.ok()) << run.status();
  attached.store(true);
  stop.store(true);
  for (auto& t : producers) t.join();
  ASSERT_TRUE(s.Finish(absl::Seconds(60)).ok());

  const std::string config = s.ingestion_config_id();
  int64_t total = 0;
  for (int p = 0; p < kProducers; ++p) {
    total += sent[p];
    ASSERT_GE(before[p], 0) << "producer " << p << " had sent nothing before the attach";
    ASSERT_GE(first_after[p], 0);
    bool switched = false;
    for (int64_t n = 0; n < sent[p]; ++n) {
      const int64_t i = p * kStride + n;
      const bool with_run = Committed(config, i, *run);
      const bool without = Committed(config, i, "");
      ASSERT_NE(with_run, without) << "producer " << p << ", message " << n;
      if (n <= before[p]) {
        ASSERT_FALSE(with_run) << "sent before the attach: " << n;
      }
      if (n >= first_after[p]) {
        ASSERT_TRUE(with_run) << "sent after the attach: " << n;
      }
      ASSERT_FALSE(switched && !with_run) << "producer " << p << " went back at " << n;
      switched = with_run;
    }
  }
  ExpectNothingLost(total);
}

}  // namespace
}  // namespace sift_stream
