#include "engine/reingestion_task.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/task_test_fixture.h"
#include "gtest/gtest.h"
#include "io/pbfs_encoder.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"
#include "testing/fake_sift.h"

namespace sift_stream::engine {
namespace {

using sift::ingest::v1::IngestWithConfigDataStreamRequest;
using sift_stream::testing::FaultPlan;


// Message i carries i in its timestamp (microseconds), so the wire order can be read back.
int64_t IndexOf(const IngestWithConfigDataStreamRequest& request) {
  return request.timestamp().seconds() * 1000000 + request.timestamp().nanos() / 1000;
}

std::vector<int64_t> Range(int64_t first, int64_t count) {
  std::vector<int64_t> range;
  for (int64_t i = first; i < first + count; ++i) range.push_back(i);
  return range;
}

// The index of every ingest request a channel sent, in the order the client sent them. The
// fake server records which messages were committed, not their order; this is the order.
class SendOrder {
 public:
  void Add(int64_t index) {
    absl::MutexLock lock(&mu_);
    order_.push_back(index);
  }
  std::vector<int64_t> Get() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int64_t> order_ ABSL_GUARDED_BY(mu_);
};

class RecordingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RecordingInterceptor(SendOrder* order) : order_(order) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      std::vector<grpc::Slice> slices;
      if (methods->GetSerializedSendMessage()->Dump(&slices).ok()) {
        std::string bytes;
        for (const grpc::Slice& slice : slices) {
          bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
        }
        IngestWithConfigDataStreamRequest request;
        if (request.ParseFromString(bytes)) order_->Add(IndexOf(request));
      }
    }
    methods->Proceed();
  }

 private:
  SendOrder* const order_;
};

class RecordingInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit RecordingInterceptorFactory(SendOrder* order) : order_(order) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new RecordingInterceptor(order_);
  }

 private:
  SendOrder* const order_;
};

class ReingestionTaskTest : public TaskTest {
 protected:
  void SetUp() override {
    TaskTest::SetUp();
    dir_ = absl::StrCat(::testing::TempDir(), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_;
    bus_.Subscribe([this](const ControlMessage& m) {
      if (m.kind == ControlKind::kErrorSignal) errors_.push_back(m.error);
    });
  }

  void TearDown() override {
    if (task_ != nullptr) {
      task_->Shutdown();
      Run([&] { return task_->quiescent(); }, absl::Seconds(5));
      task_.reset();
    }
    poller_->Shutdown();
  }

  // The task on a channel that records the wire order; its own connection, as in production.
  void MakeTask(ReingestionOptions options) {
    options.api_key = kKey;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<RecordingInterceptorFactory>(&order_));
    auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
        sift_->address(), grpc::InsecureChannelCredentials(), args, std::move(factories));
    task_ = std::make_unique<ReingestionTask>(channel, &cq_, *poller_, *ring_, bus_, options);
    task_->Start();
  }

  // Retries fast enough that a few failed attempts cost well under a second.
  static ReingestionOptions FastRetries() {
    ReingestionOptions options;
    options.retry.initial_backoff = absl::Milliseconds(20);
    options.retry.max_backoff = absl::Milliseconds(60);
    return options;
  }

  // Writes messages [first, first + count) as a PBFS file of `per_chunk`-message chunks, as
  // the backup manager would; returns its path and, if asked, where each chunk starts.
  std::string WriteFile(const std::string& name, int64_t first, int64_t count,
                        int64_t per_chunk = 500, std::vector<uint64_t>* chunk_offsets = nullptr) {
    const std::string path = absl::StrCat(dir_, "/", name, ".pbfs");
    std::ofstream out(path, std::ios::binary);
    io::PbfsChunkEncoder encoder;
    uint64_t offset = 0;
    for (int64_t i = first; i < first + count; ++i) {
      EXPECT_TRUE(encoder.Add(Message(i)).ok());
      if (encoder.message_count() == static_cast<size_t>(per_chunk) || i + 1 == first + count) {
        const absl::string_view chunk = encoder.Seal();
        if (chunk_offsets != nullptr) chunk_offsets->push_back(offset);
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        offset += chunk.size();
        encoder.Reset();
      }
    }
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  uint64_t BytesOf(int64_t first, int64_t count) const {
    uint64_t bytes = 0;
    for (int64_t i = first; i < first + count; ++i) bytes += Message(i).size();
    return bytes;
  }

  // What the backup manager publishes when a checkpoint's live stream failed.
  void Reingest(uint64_t checkpoint, std::vector<std::string> files) {
    ControlMessage message;
    message.kind = ControlKind::kReingestBackups;
    message.checkpoint = checkpoint;
    message.backup_files = std::move(files);
    bus_.Publish(std::move(message));
  }

  // One reactor loop, as the engine runs it, until `done` or `timeout`.
  template <typename Done>
  void Run(Done done, absl::Duration timeout) {
    RunLoop(*task_, done, timeout, [&] { return ReingestionStateName(task_->state()); });
  }

  // Until `jobs` jobs have ended one way or another and the task waits for more.
  void RunJobs(uint64_t jobs) {
    Run(
        [&] {
          const ReingestionMetrics& m = task_->metrics();
          return m.jobs_done + m.jobs_failed + m.jobs_abandoned >= jobs && task_->idle() &&
                 task_->state() == ReingestionTask::State::kIdle;
        },
        absl::Seconds(8));
  }

  // How many ErrorSignals mention every one of `parts`.
  int ErrorsMentioning(const std::vector<std::string>& parts) const {
    int n = 0;
    for (const absl::Status& error : errors_) {
      bool all = true;
      for (const std::string& part : parts) all = all && absl::StrContains(error.message(), part);
      n += all ? 1 : 0;
    }
    return n;
  }

  static bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

  int64_t Committed() const { return sift_->Stats().ingest.committed_messages; }

  // Messages 0..299 in three chunks of 100, the second with a flipped byte in its frames.
  std::string WriteFileWithCorruptMiddleChunk(const std::string& name) {
    std::vector<uint64_t> chunks;
    const std::string path = WriteFile(name, 0, 300, 100, &chunks);
    EXPECT_EQ(chunks.size(), 3u);
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(chunks[1] + 12 + 20));  // Inside chunk 2's frames.
    file.put('\xff');
    return path;
  }

  std::string dir_;
  SendOrder order_;
  std::unique_ptr<ReingestionTask> task_;
  std::vector<absl::Status> errors_;
};

TEST_F(ReingestionTaskTest, JobOfThreeFilesIsCommittedInOrderAndItsFilesDeleted) {
  MakeTask({});
  const std::vector<std::string> files = {WriteFile("a", 0, 3334), WriteFile("b", 3334, 3333),
                                          WriteFile("c", 6667, 3333)};
  Reingest(4, files);
  RunJobs(1);
  EXPECT_EQ(Committed(), 10000);
  EXPECT_EQ(order_.Get(), Range(0, 10000));
  for (const std::string& file : files) EXPECT_FALSE(Exists(file)) << file;
  const ReingestionMetrics& m = task_->metrics();
  EXPECT_EQ(m.jobs_done, 1u);
  EXPECT_EQ(m.files_reingested, 3u);
  EXPECT_EQ(m.files_deleted, 3u);
  EXPECT_EQ(m.messages_reingested, 10000u);
  EXPECT_EQ(m.bytes_reingested, BytesOf(0, 10000));
  EXPECT_EQ(m.retries, 0u);
  EXPECT_EQ(m.pending_jobs, 0u);
  EXPECT_EQ(task_->stream_metrics().dropped_live, 0u);  // Fed in batches, never overflowed.
  EXPECT_TRUE(errors_.empty()) << errors_.front();
}

TEST_F(ReingestionTaskTest, RetainBackupsKeepsTheFilesOfASuccessfulJob) {
  ReingestionOptions options;
  options.retain_backups = true;
  MakeTask(options);
  const std::vector<std::string> files = {WriteFile("a", 0, 1000), WriteFile("b", 1000, 1000)};
  Reingest(1, files);
  RunJobs(1);
  EXPECT_EQ(Committed(), 2000);
  for (const std::string& file : files) EXPECT_TRUE(Exists(file)) << file;
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().files_deleted, 0u);
}

TEST_F(ReingestionTaskTest, RateCapSpreadsAJobOverTimeAndLosesNothing) {
  ReingestionOptions options;
  options.max_messages_per_second = 4000;
  MakeTask(options);
  const std::vector<std::string> files = {WriteFile("a", 0, 2000), WriteFile("b", 2000, 2000)};
  const absl::Time start = absl::Now();
  Reingest(1, files);
  RunJobs(1);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(Committed(), 4000);
  // 4,000 messages at 4,000/s with a 0.1 s burst cannot take less than 0.9 s.
  EXPECT_GE(took, absl::Milliseconds(850)) << "the cap was not applied";
  EXPECT_LT(took, absl::Seconds(10));
}

TEST_F(ReingestionTaskTest, StreamCutOnTheFirstAttemptIsRetriedFromTheFirstFile) {
  FaultPlan plan;
  plan.end_stream = {1, false};
  plan.end_stream_after_messages = 1000;
  sift_->SetFaults(plan);
  MakeTask(FastRetries());
  const std::vector<std::string> files = {WriteFile("a", 0, 3334), WriteFile("b", 3334, 3333),
                                          WriteFile("c", 6667, 3333)};
  Reingest(1, files);
  RunJobs(1);
  EXPECT_EQ(Committed(), 10000);
  EXPECT_EQ(task_->metrics().retries, 1u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().messages_reingested, 10000u);  // The successful attempt's.
  EXPECT_EQ(task_->stream_metrics().streams_failed, 1u);
  // Feeding stopped when the stream broke: nothing leaked into a stream of its own.
  EXPECT_EQ(task_->stream_metrics().streams_started, 2u);
  const std::vector<int64_t> sent = order_.Get();
  ASSERT_GE(sent.size(), 10000u);
  EXPECT_EQ(std::vector<int64_t>(sent.end() - 10000, sent.end()), Range(0, 10000));
  for (const std::string& file : files) EXPECT_FALSE(Exists(file)) << file;
}

TEST_F(ReingestionTaskTest, OutageLongerThanSeveralBackoffsEventuallySucceeds) {
  sift_->RefuseStreamsFor(absl::Milliseconds(400));
  MakeTask(FastRetries());
  const std::string file = WriteFile("a", 0, 1000);
  Reingest(1, {file});
  RunJobs(1);
  EXPECT_EQ(Committed(), 1000);
  EXPECT_GE(task_->metrics().retries, 3u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().current_backoff, absl::ZeroDuration());
  EXPECT_FALSE(Exists(file));
  EXPECT_TRUE(errors_.empty()) << errors_.front();
}

TEST_F(ReingestionTaskTest, GivingUpAfterMaxAttemptsKeepsTheFilesAndSignalsThem) {
  FaultPlan plan;
  plan.fail_at_end = {1, true};  // Every stream.
  sift_->SetFaults(plan);
  ReingestionOptions options = FastRetries();
  options.retry.max_attempts = 3;
  MakeTask(options);
  const std::vector<std::string> files = {WriteFile("a", 0, 100), WriteFile("b", 100, 100)};
  Reingest(9, files);
  RunJobs(1);
  EXPECT_EQ(Committed(), 0);
  EXPECT_EQ(task_->metrics().jobs_failed, 1u);
  EXPECT_EQ(task_->metrics().jobs_done, 0u);
  EXPECT_EQ(task_->metrics().retries, 2u);
  for (const std::string& file : files) EXPECT_TRUE(Exists(file)) << file;
  EXPECT_EQ(ErrorsMentioning({"checkpoint 9", "gave up after 3", files[0], files[1]}), 1);
}

// A file Sift refuses every time with a status that looks worth retrying (INTERNAL, as a
// server that cannot parse a message answers) fails every attempt; the jobs queued behind it
// must still go.
TEST_F(ReingestionTaskTest, JobThatKeepsFailingDoesNotHoldUpTheJobsBehindIt) {
  FaultPlan plan;
  plan.refused_flow = "poison";
  sift_->SetFaults(plan);
  MakeTask(FastRetries());  // max_attempts 0: the poison job is retried for ever.
  const std::string poison = absl::StrCat(dir_, "/poison.pbfs");
  {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_flow("poison");
    io::PbfsChunkEncoder encoder;
    ASSERT_TRUE(encoder.Add(request.SerializeAsString()).ok());
    const absl::string_view chunk = encoder.Seal();
    std::ofstream(poison, std::ios::binary).write(chunk.data(), chunk.size());
  }
  Reingest(1, {poison});
  Reingest(2, {WriteFile("a", 0, 1000)});
  Reingest(3, {WriteFile("b", 1000, 1000)});
  Run([&] { return task_->metrics().jobs_done >= 2; }, absl::Seconds(8));
  EXPECT_EQ(Committed(), 2000);
  EXPECT_EQ(task_->metrics().jobs_done, 2u);
  EXPECT_GE(task_->metrics().retries, 1u);
  EXPECT_TRUE(Exists(poison)) << "a file Sift never acknowledged was deleted";
  EXPECT_FALSE(task_->idle()) << "the poison job is still being retried";
}

// Sift refusing one job's messages as invalid (INVALID_ARGUMENT) is that job's problem: it is
// given up at once, its file kept, and the jobs behind it go on — not the whole task stopped.
TEST_F(ReingestionTaskTest, JobSiftRefusesAsInvalidIsGivenUpAndTheOthersGoOn) {
  MakeTask(FastRetries());
  const std::string invalid = absl::StrCat(dir_, "/invalid.pbfs");
  {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_flow("no-such-flow");
    request.set_end_stream_on_validation_error(true);  // So the fake ends the stream.
    io::PbfsChunkEncoder encoder;
    ASSERT_TRUE(encoder.Add(request.SerializeAsString()).ok());
    const absl::string_view chunk = encoder.Seal();
    std::ofstream(invalid, std::ios::binary).write(chunk.data(), chunk.size());
  }
  Reingest(1, {invalid});
  const std::string good = WriteFile("a", 0, 1000);
  Reingest(2, {good});
  RunJobs(2);
  EXPECT_EQ(Committed(), 1000);
  EXPECT_EQ(task_->metrics().jobs_failed, 1u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().retries, 0u) << "refused data must not be sent again";
  EXPECT_TRUE(Exists(invalid));
  EXPECT_FALSE(Exists(good));
  EXPECT_EQ(task_->state(), ReingestionTask::State::kIdle) << "the task must go on";
  EXPECT_EQ(ErrorsMentioning({"checkpoint 1", "refused its messages as invalid", invalid}), 1);
}

// A frame with an intact CRC that is no serialized message (another writer's bug) is never
// sent — Sift could only refuse it, on every attempt — the rest of the file is, and the file
// is kept and reported as damaged.
TEST_F(ReingestionTaskTest, FrameThatIsNoMessageIsSkippedTheRestSentAndTheFileKept) {
  MakeTask(FastRetries());
  const std::string path = absl::StrCat(dir_, "/garbage.pbfs");
  {
    io::PbfsChunkEncoder encoder;
    for (int64_t i = 0; i < 100; ++i) ASSERT_TRUE(encoder.Add(Message(i)).ok());
    ASSERT_TRUE(encoder.Add(std::string(64, '\xff')).ok());
    for (int64_t i = 100; i < 200; ++i) ASSERT_TRUE(encoder.Add(Message(i)).ok());
    const absl::string_view chunk = encoder.Seal();
    std::ofstream(path, std::ios::binary).write(chunk.data(), chunk.size());
  }
  Reingest(1, {path});
  RunJobs(1);
  EXPECT_EQ(Committed(), 200);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().damaged_files, 1u);
  EXPECT_EQ(task_->damaged_files(), std::vector<std::string>{path});
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(ErrorsMentioning({path, "1 frame(s) that are not serialized messages"}), 1);
}

TEST_F(ReingestionTaskTest, CorruptMiddleChunkIsSkippedTheRestCommittedAndTheFileKept) {
  MakeTask({});
  const std::string damaged = WriteFileWithCorruptMiddleChunk("a");
  const std::string intact = WriteFile("b", 300, 300, 100);
  Reingest(2, {damaged, intact});
  RunJobs(1);
  EXPECT_EQ(Committed(), 500);  // All but the 100 messages of the damaged chunk.
  std::vector<int64_t> expected = Range(0, 100);
  for (int64_t i : Range(200, 400)) expected.push_back(i);
  EXPECT_EQ(order_.Get(), expected);
  EXPECT_TRUE(Exists(damaged));
  EXPECT_FALSE(Exists(intact));
  EXPECT_EQ(task_->metrics().damaged_files, 1u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().files_deleted, 1u);
  EXPECT_EQ(ErrorsMentioning({damaged, "corrupt", "bytes skipped"}), 1);
  EXPECT_EQ(errors_.size(), 1u);
}

TEST_F(ReingestionTaskTest, OnlyTheMessagesNamedAreSentAcrossFiles) {
  MakeTask({});
  const std::vector<std::string> files = {WriteFile("a", 0, 500), WriteFile("b", 500, 500)};
  ControlMessage message;
  message.kind = ControlKind::kReingestBackups;
  message.checkpoint = 3;
  message.backup_files = files;
  // Positions 10..19, 480..519 (straddling the two files) and 999.
  message.only_messages = {{10, 20}, {480, 520}, {999, 1000}};
  bus_.Publish(std::move(message));
  RunJobs(1);
  std::vector<int64_t> expected = Range(10, 10);
  for (int64_t i : Range(480, 40)) expected.push_back(i);
  expected.push_back(999);
  EXPECT_EQ(order_.Get(), expected);
  EXPECT_EQ(Committed(), 51);
  EXPECT_EQ(task_->metrics().messages_reingested, 51u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  for (const std::string& file : files) EXPECT_FALSE(Exists(file)) << file;  // Job done.
}

// A damaged region shifts every later position: from there on, everything is sent (some twice
// at Sift, none lost).
TEST_F(ReingestionTaskTest, PartialJobSendsEverythingAfterADamagedRegion) {
  MakeTask({});
  const std::string damaged = WriteFileWithCorruptMiddleChunk("a");
  const std::string intact = WriteFile("b", 300, 100, 100);
  ControlMessage message;
  message.kind = ControlKind::kReingestBackups;
  message.checkpoint = 2;
  message.backup_files = {damaged, intact};
  message.only_messages = {{5, 6}, {250, 251}};
  bus_.Publish(std::move(message));
  RunJobs(1);
  // Position 5, then (chunk 2 skipped) everything from message 200 on.
  std::vector<int64_t> expected = {5};
  for (int64_t i : Range(200, 200)) expected.push_back(i);
  EXPECT_EQ(order_.Get(), expected);
  EXPECT_EQ(task_->metrics().messages_reingested, 201u);
}

TEST_F(ReingestionTaskTest, MissingFileIsSignalledAndTheOthersAreStillReingested) {
  MakeTask({});
  const std::string first = WriteFile("a", 0, 100);
  const std::string missing = absl::StrCat(dir_, "/gone.pbfs");
  const std::string last = WriteFile("c", 100, 100);
  Reingest(3, {first, missing, last});
  RunJobs(1);
  EXPECT_EQ(Committed(), 200);
  EXPECT_EQ(order_.Get(), Range(0, 200));
  EXPECT_FALSE(Exists(first));
  EXPECT_FALSE(Exists(last));
  EXPECT_EQ(task_->metrics().unreadable_files, 1u);
  EXPECT_EQ(task_->metrics().files_reingested, 2u);
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(ErrorsMentioning({missing}), 1);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(errors_[0])) << errors_[0];
}

TEST_F(ReingestionTaskTest, TwoQueuedJobsAreReingestedInTheOrderTheyArrived) {
  MakeTask({});
  const std::vector<std::string> first = {WriteFile("a", 0, 1000), WriteFile("b", 1000, 1000)};
  const std::vector<std::string> second = {WriteFile("c", 2000, 1000)};
  Reingest(1, first);
  Reingest(2, second);
  bus_.Deliver();
  EXPECT_EQ(task_->metrics().pending_jobs, 2u);
  EXPECT_FALSE(task_->idle());
  RunJobs(2);
  EXPECT_EQ(Committed(), 3000);
  EXPECT_EQ(order_.Get(), Range(0, 3000));
  EXPECT_EQ(task_->metrics().jobs_done, 2u);
  EXPECT_EQ(task_->metrics().files_deleted, 3u);
  EXPECT_EQ(task_->stream_metrics().streams_started, 2u);  // One stream per job.
}

TEST_F(ReingestionTaskTest, NonRetryableRefusalStopsReingestionAndKeepsEveryFile) {
  FaultPlan plan;
  plan.reject_all_code = grpc::StatusCode::PERMISSION_DENIED;
  sift_->SetFaults(plan);
  MakeTask(FastRetries());
  const std::string file = WriteFile("a", 0, 100);
  Reingest(5, {file});
  Run([&] { return task_->state() == ReingestionTask::State::kStopped; }, absl::Seconds(5));
  EXPECT_TRUE(task_->idle());  // What a reactor waiting for re-ingestion to end checks.
  EXPECT_TRUE(Exists(file));
  EXPECT_EQ(task_->metrics().jobs_failed, 1u);
  EXPECT_EQ(task_->metrics().retries, 0u);
  EXPECT_EQ(ErrorsMentioning({"re-ingestion stopped"}), 1);
  EXPECT_EQ(ErrorsMentioning({"checkpoint 5", file}), 1);
  const std::string later = WriteFile("b", 100, 100);
  Reingest(6, {later});  // Refused at once: nothing could send it.
  bus_.Deliver();
  EXPECT_EQ(ErrorsMentioning({"checkpoint 6", "not started", later}), 1);
  EXPECT_EQ(task_->metrics().jobs_failed, 2u);
  EXPECT_TRUE(Exists(later));
}

TEST_F(ReingestionTaskTest, ShutdownFinishesTheJobInProgressAndKeepsQueuedOnes) {
  MakeTask({});
  const std::string current = WriteFile("a", 0, 5000);
  const std::string queued = WriteFile("b", 5000, 100);
  Reingest(1, {current});
  Reingest(2, {queued});
  bus_.Deliver();
  task_->Step();  // Job 1 starts streaming.
  ASSERT_EQ(task_->state(), ReingestionTask::State::kStreaming);
  ControlMessage shutdown;
  shutdown.kind = ControlKind::kShutdown;
  bus_.Publish(shutdown);
  Run([&] { return task_->quiescent(); }, absl::Seconds(8));
  EXPECT_EQ(Committed(), 5000);
  EXPECT_FALSE(Exists(current));
  EXPECT_TRUE(Exists(queued));
  EXPECT_EQ(task_->metrics().jobs_done, 1u);
  EXPECT_EQ(task_->metrics().jobs_abandoned, 1u);
  EXPECT_EQ(ErrorsMentioning({"checkpoint 2", "shutting down", queued}), 1);
}

TEST_F(ReingestionTaskTest, ShutdownDuringBackoffAbandonsTheJobAndKeepsItsFiles) {
  FaultPlan plan;
  plan.fail_at_end = {1, true};
  sift_->SetFaults(plan);
  ReingestionOptions options;
  options.retry.initial_backoff = absl::Seconds(30);  // Far longer than the test.
  MakeTask(options);
  const std::string file = WriteFile("a", 0, 100);
  Reingest(1, {file});
  Run([&] { return task_->state() == ReingestionTask::State::kBackoff; }, absl::Seconds(5));
  task_->Shutdown();
  Run([&] { return task_->quiescent(); }, absl::Seconds(2));  // The timer was cancelled.
  EXPECT_TRUE(Exists(file));
  EXPECT_EQ(task_->metrics().jobs_abandoned, 1u);
  EXPECT_EQ(ErrorsMentioning({"checkpoint 1", "shut down while waiting", file}), 1);
}

TEST_F(ReingestionTaskTest, ProductionChannelHelperMakesAWorkingChannel) {
  ReingestionOptions options;
  options.api_key = kKey;
  task_ = std::make_unique<ReingestionTask>(
      CreateReingestionChannel(sift_->address(), grpc::InsecureChannelCredentials()), &cq_,
      *poller_, *ring_, bus_, options);
  task_->Start();
  const std::string file = WriteFile("a", 0, 100);
  Reingest(1, {file});
  RunJobs(1);
  EXPECT_EQ(Committed(), 100);
  EXPECT_FALSE(Exists(file));
}

}  // namespace
}  // namespace sift_stream::engine
