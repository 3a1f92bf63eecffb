// Measures how one reactor thread can wait on both io_uring and a grpc::CompletionQueue.
//
//   adaptive      engine/completion_queue_poller.h, what the engine uses: a zero-deadline
//                 cq.AsyncNext() every turn; the ring wait is 0 after an event, 50 us while
//                 a write is in flight, doubling to 10 ms while only far-off events are due
//   bridge        a thread blocks in cq.Next(), queues each event and wakes the ring through
//                 an eventfd (io::Wakeup); the reactor drains the queue
//   poll_<N>us    a zero-deadline cq.AsyncNext() every turn, the ring wait fixed at N us
//
// For each it reports:
//  - alarms: events per second with 1 and 64 gRPC alarms outstanding (each re-armed as soon as
//    it fires), process and reactor-thread CPU per event. gRPC fires alarms on a ~1 ms timer
//    tick, so alarm latency says little about the wait itself; the stream below does.
//  - stream: one client stream on loopback to an in-process sink server, pre-serialized
//    142-byte requests, one write in flight, buffer hint on 63 of every 64 writes (as the engine
//    does): messages per second, write-completion latency, and CPU per message.
//  - idle: the CPU burnt while one alarm is due far in the future and nothing else happens.
// One JSON object per line; the numbers in docs/architecture.md come from this program.
//
//   bazel run -c opt //engine:reactor_wait_benchmark -- --events=20000

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <utility>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "engine/completion_queue_poller.h"
#include "engine/grpc_operation.h"
#include "gflags/gflags.h"
#include "io/ring.h"
#include "io/wakeup.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"

DEFINE_int32(events, 20000, "alarm events per measurement");
DEFINE_int32(messages, 500000, "messages streamed per measurement");
DEFINE_int32(idle_ms, 1000, "how long to measure idle CPU");
DEFINE_string(modes, "adaptive,bridge,poll_50,poll_1000", "comma-separated waiters to measure");

namespace sift_stream::engine {
namespace {

double CpuSeconds(int who) {
  rusage usage;
  getrusage(who, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

gpr_timespec Now() { return gpr_now(GPR_CLOCK_MONOTONIC); }

// An alarm that re-arms itself until the shared budget is spent.
class PingAlarm : public GrpcOperation {
 public:
  PingAlarm(grpc::CompletionQueue* cq, CompletionQueuePoller* poller, int* remaining,
            std::vector<double>* latencies_us)
      : cq_(cq), poller_(poller), remaining_(remaining), latencies_us_(latencies_us) {}

  void Arm() {
    armed_at_ = absl::Now();
    if (poller_ != nullptr) poller_->Started(*this, Expect::kEventually);
    alarm_.Set(cq_, Now(), tag());
  }
  void ArmFarFuture() {
    if (poller_ != nullptr) poller_->Started(*this, Expect::kEventually);
    alarm_.Set(cq_, gpr_time_add(Now(), gpr_time_from_seconds(3600, GPR_TIMESPAN)), tag());
  }
  void Cancel() { alarm_.Cancel(); }
  bool done() const { return !in_flight_; }

  void OnComplete(bool ok) override {
    in_flight_ = false;
    if (!ok) return;  // Cancelled.
    latencies_us_->push_back(absl::ToDoubleMicroseconds(absl::Now() - armed_at_));
    if (*remaining_ > 0) {
      --*remaining_;
      in_flight_ = true;
      Arm();
    }
  }
  void MarkInFlight() { in_flight_ = true; }

 private:
  grpc::CompletionQueue* cq_;
  CompletionQueuePoller* poller_;
  int* remaining_;
  std::vector<double>* latencies_us_;
  grpc::Alarm alarm_;
  absl::Time armed_at_;
  bool in_flight_ = false;
};

// One way of turning the reactor loop.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual std::string name() const = 0;
  virtual void Turn() = 0;
  virtual void Stop() {}
  // Only the adaptive waiter counts outstanding operations.
  virtual CompletionQueuePoller* poller() { return nullptr; }
};



// The alternative measured against the poller: a thread blocked in cq.Next() forwards events.
class BridgeWaiter : public Waiter {
 public:
  BridgeWaiter(io::Ring& ring, grpc::CompletionQueue* cq) : ring_(ring), cq_(cq) {
    wakeup_ = std::move(io::Wakeup::Create(ring, io::Bind<BridgeWaiter, &BridgeWaiter::Drain>(
                                                     this)))
                  .value();
    thread_ = std::thread([this] {
      void* tag;
      bool ok;
      while (cq_->Next(&tag, &ok)) {
        {
          absl::MutexLock lock(&mu_);
          pending_.push_back({tag, ok});
        }
        wakeup_->Notify();
      }
    });
  }
  std::string name() const override { return "bridge"; }
  void Turn() override { (void)ring_.RunOnce(absl::Seconds(1)); }
  void Stop() override {
    cq_->Shutdown();
    thread_.join();
    Drain(unused_);
    wakeup_->Disarm();
    while (wakeup_->armed()) (void)ring_.RunOnce(absl::Milliseconds(10));
  }

 private:
  void Drain(io::Completion&) {
    std::vector<std::pair<void*, bool>> events;
    {
      absl::MutexLock lock(&mu_);
      events.swap(pending_);
    }
    for (auto [tag, ok] : events) GrpcOperation::FromTag(tag)->OnComplete(ok);
  }

  io::Ring& ring_;
  grpc::CompletionQueue* cq_;
  std::unique_ptr<io::Wakeup> wakeup_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::pair<void*, bool>> pending_;
  io::Completion unused_;
};

// The engine's way: engine/completion_queue_poller.h. Every operation the benchmark starts is
// counted through `started`, as the engine's tasks do.
class AdaptiveWaiter : public Waiter {
 public:
  AdaptiveWaiter(io::Ring& ring, grpc::CompletionQueue* cq) : ring_(ring), poller_(cq) {}
  std::string name() const override { return "adaptive"; }
  void Turn() override {
    poller_.Poll();
    // With nothing outstanding the engine blocks until a producer or a timer wakes it; here
    // nothing else would, so return and let the measurement loop decide.
    if (poller_.outstanding() == 0) return;
    (void)ring_.RunOnce(poller_.NextWait());
  }
  void Stop() override { poller_.Shutdown(); }
  CompletionQueuePoller* poller() override { return &poller_; }

 private:
  io::Ring& ring_;
  CompletionQueuePoller poller_;
};

class PollWaiter : public Waiter {
 public:
  PollWaiter(io::Ring& ring, grpc::CompletionQueue* cq, absl::Duration interval)
      : ring_(ring), cq_(cq), interval_(interval) {}
  std::string name() const override {
    return absl::StrFormat("poll_%dus", absl::ToInt64Microseconds(interval_));
  }
  void Turn() override {
    void* tag;
    bool ok;
    while (cq_->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) ==
           grpc::CompletionQueue::GOT_EVENT) {
      GrpcOperation::FromTag(tag)->OnComplete(ok);
    }
    (void)ring_.RunOnce(interval_);
  }
  void Stop() override {
    cq_->Shutdown();
    void* tag;
    bool ok;
    while (cq_->Next(&tag, &ok)) GrpcOperation::FromTag(tag)->OnComplete(ok);
  }

 private:
  io::Ring& ring_;
  grpc::CompletionQueue* cq_;
  absl::Duration interval_;
};

// Counts what arrives without parsing it, so that the server costs as little as possible.
class SinkService
    : public sift::ingest::v1::IngestService::WithRawCallbackMethod_IngestWithConfigDataStream<
          sift::ingest::v1::IngestService::Service> {
 public:
  grpc::ServerReadReactor<grpc::ByteBuffer>* IngestWithConfigDataStream(
      grpc::CallbackServerContext*, grpc::ByteBuffer* response) override {
    // The empty response message serializes to zero bytes, but it must be a real buffer.
    grpc::Slice empty;
    *response = grpc::ByteBuffer(&empty, 1);
    return new Reader(&received_);
  }
  int64_t received() const { return received_.load(); }

 private:
  class Reader : public grpc::ServerReadReactor<grpc::ByteBuffer> {
   public:
    explicit Reader(std::atomic<int64_t>* received) : received_(received) { StartRead(&buffer_); }
    void OnReadDone(bool ok) override {
      if (!ok) return Finish(grpc::Status::OK);
      received_->fetch_add(1, std::memory_order_relaxed);
      buffer_.Clear();
      StartRead(&buffer_);
    }
    void OnDone() override { delete this; }

   private:
    std::atomic<int64_t>* received_;
    grpc::ByteBuffer buffer_;
  };
  std::atomic<int64_t> received_{0};
};

grpc::ByteBuffer SerializedRequest() {
  sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  request.set_ingestion_config_id("6a8b0f3e-4bd5-4c0e-9a63-2f1f0f1d7e11");
  request.set_flow("vehicle_state");
  request.mutable_timestamp()->set_seconds(1764000000);
  request.set_run_id("d8c7a6b5-0000-4000-8000-123456789abc");
  for (int i = 0; i < 10; ++i) request.add_channel_values()->set_double_(i * 1.5);
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A client stream driven by tags: each completion starts the next step.
class StreamDriver : public GrpcOperation {
 public:
  enum class State { kStarting, kWriting, kWritesDone, kReading, kFinishing, kDone };

  StreamDriver(grpc::GenericStub& stub, grpc::CompletionQueue* cq, CompletionQueuePoller* poller,
               int64_t messages)
      : poller_(poller), remaining_(messages), message_(SerializedRequest()) {
    call_ = stub.PrepareCall(&context_, "/sift.ingest.v1.IngestService/IngestWithConfigDataStream",
                             cq);
    latencies_us_.reserve(messages);
    state_ = State::kStarting;
    Started(Expect::kSoon);
    call_->StartCall(tag());
  }
  bool done() const { return state_ == State::kDone; }
  const grpc::Status& status() const { return status_; }
  const std::vector<double>& latencies_us() const { return latencies_us_; }

  void OnComplete(bool ok) override {
    switch (state_) {
      case State::kStarting:
        return ok ? WriteNext() : Finish();
      case State::kWriting:
        latencies_us_.push_back(absl::ToDoubleMicroseconds(absl::Now() - write_started_));
        return ok ? WriteNext() : Finish();
      case State::kWritesDone:
        state_ = State::kReading;
        // The checkpoint's acknowledgement: wanted promptly, and gRPC must keep flushing
        // what is still buffered for the server to reach it.
        Started(Expect::kSoon);
        return call_->Read(&response_, tag());
      case State::kReading:
        return Finish();
      case State::kFinishing:
        state_ = State::kDone;
        return;
      case State::kDone:
        break;
    }
    std::abort();  // A completion in a state that expects none is a bug.
  }

 private:
  void WriteNext() {
    if (remaining_ == 0) {
      state_ = State::kWritesDone;
      Started(Expect::kSoon);
      return call_->WritesDone(tag());
    }
    --remaining_;
    grpc::WriteOptions options;
    if (remaining_ % 64 != 0) options.set_buffer_hint();
    state_ = State::kWriting;
    write_started_ = absl::Now();
    Started(Expect::kSoon);
    call_->Write(message_, options, tag());
  }
  void Finish() {
    state_ = State::kFinishing;
    Started(Expect::kSoon);
    call_->Finish(&status_, tag());
  }

  void Started(Expect expect) {
    if (poller_ != nullptr) poller_->Started(*this, expect);
  }

  CompletionQueuePoller* poller_;
  int64_t remaining_;
  grpc::ByteBuffer message_;
  grpc::ByteBuffer response_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  grpc::Status status_;
  State state_;
  absl::Time write_started_;
  std::vector<double> latencies_us_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Measure(const std::string& mode) {
  auto ring = std::move(io::Ring::Create(64)).value();
  grpc::CompletionQueue cq;
  std::unique_ptr<Waiter> waiter;
  if (mode == "adaptive") {
    waiter = std::make_unique<AdaptiveWaiter>(*ring, &cq);
  } else if (mode == "bridge") {
    waiter = std::make_unique<BridgeWaiter>(*ring, &cq);
  } else {
    int us = std::stoi(mode.substr(5));
    waiter = std::make_unique<PollWaiter>(*ring, &cq, absl::Microseconds(us));
  }

  std::string json = absl::StrFormat("{\"mode\":\"%s\"", waiter->name());
  for (int outstanding : {1, 64}) {
    int remaining = FLAGS_events - outstanding;
    std::vector<double> latencies;
    latencies.reserve(FLAGS_events);
    std::vector<std::unique_ptr<PingAlarm>> alarms;
    const double cpu0 = CpuSeconds(RUSAGE_SELF);
    const double reactor_cpu0 = CpuSeconds(RUSAGE_THREAD);
    const absl::Time t0 = absl::Now();
    for (int i = 0; i < outstanding; ++i) {
      alarms.push_back(
          std::make_unique<PingAlarm>(&cq, waiter->poller(), &remaining, &latencies));
      alarms.back()->MarkInFlight();
      alarms.back()->Arm();
    }
    auto all_done = [&] {
      for (auto& a : alarms) {
        if (!a->done()) return false;
      }
      return true;
    };
    while (!all_done()) waiter->Turn();
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
    const double reactor_cpu = CpuSeconds(RUSAGE_THREAD) - reactor_cpu0;
    const double n = static_cast<double>(latencies.size());
    absl::StrAppendFormat(
        &json,
        ",\"outstanding_%d\":{\"events\":%d,\"events_per_s\":%.0f,\"latency_us_p50\":%.1f,"
        "\"latency_us_p99\":%.1f,\"cpu_us_per_event\":%.2f,\"reactor_cpu_us_per_event\":%.2f}",
        outstanding, static_cast<int>(n), n / wall, Percentile(latencies, 0.5),
        Percentile(latencies, 0.99), cpu * 1e6 / n, reactor_cpu * 1e6 / n);
  }

  {
    SinkService sink;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&sink);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    grpc::GenericStub stub(grpc::CreateChannel(absl::StrFormat("127.0.0.1:%d", port),
                                               grpc::InsecureChannelCredentials()));
    const double cpu0 = CpuSeconds(RUSAGE_SELF);
    const double reactor_cpu0 = CpuSeconds(RUSAGE_THREAD);
    const absl::Time t0 = absl::Now();
    StreamDriver stream(stub, &cq, waiter->poller(), FLAGS_messages);
    while (!stream.done()) waiter->Turn();
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    const double cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
    const double reactor_cpu = CpuSeconds(RUSAGE_THREAD) - reactor_cpu0;
    const double n = static_cast<double>(FLAGS_messages);
    absl::StrAppendFormat(
        &json,
        ",\"stream\":{\"ok\":%s,\"received\":%d,\"msgs_per_s\":%.0f,"
        "\"write_latency_us_p50\":%.1f,\"write_latency_us_p99\":%.1f,"
        "\"process_cpu_ns_per_msg\":%.0f,\"reactor_cpu_ns_per_msg\":%.0f}",
        stream.status().ok() ? "true" : "false", static_cast<int>(sink.received()), n / wall,
        Percentile(stream.latencies_us(), 0.5), Percentile(stream.latencies_us(), 0.99),
        cpu * 1e9 / n, reactor_cpu * 1e9 / n);
    server->Shutdown();
  }

  // Idle: one alarm pending far in the future, as a stream with nothing to send would be.
  int remaining = 0;
  std::vector<double> unused;
  PingAlarm idle(&cq, waiter->poller(), &remaining, &unused);
  idle.MarkInFlight();
  idle.ArmFarFuture();
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  const absl::Time t0 = absl::Now();
  while (absl::Now() - t0 < absl::Milliseconds(FLAGS_idle_ms)) waiter->Turn();
  const double idle_cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
  const double idle_wall = absl::ToDoubleSeconds(absl::Now() - t0);
  idle.Cancel();
  while (!idle.done()) waiter->Turn();
  waiter->Stop();
  absl::StrAppendFormat(&json, ",\"idle_cpu_percent\":%.2f}", 100.0 * idle_cpu / idle_wall);
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
}

}  // namespace
}  // namespace sift_stream::engine

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Compare ways for one thread to wait on io_uring and a gRPC CQ");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  for (absl::string_view mode : absl::StrSplit(FLAGS_modes, ',')) {
    sift_stream::engine::Measure(std::string(mode));
  }
  return 0;
}
