#include "engine/ingestion_task.h"

#include "engine/redact.h"

#include <glog/logging.h>

#include <algorithm>
#include <cassert>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace sift_stream::engine {

const char* IngestionStateName(IngestionTask::State state) {
  switch (state) {
    case IngestionTask::State::kIdle:
      return "idle";
    case IngestionTask::State::kStarting:
      return "starting";
    case IngestionTask::State::kStreaming:
      return "streaming";
    case IngestionTask::State::kWritesDone:
      return "writes-done";
    case IngestionTask::State::kAwaitingAck:
      return "awaiting-ack";
    case IngestionTask::State::kFinishing:
      return "finishing";
    case IngestionTask::State::kBackoff:
      return "backoff";
    case IngestionTask::State::kStopped:
      return "stopped";
  }
  return "?";
}

// One stream: gRPC requires a fresh ClientContext per call. Two tags, because a Read is kept
// in flight beside the writes: it completes when the server ends the stream, early (a failure
// noticed even while the stream is idle) or after WritesDone (the acknowledgement).
class IngestionTask::Call : public GrpcOperation {
 public:
  class ReadOp : public GrpcOperation {
   public:
    explicit ReadOp(Call* call) : call_(call) {}
    void OnComplete(bool ok) override { call_->task_->OnReadEvent(ok); }

   private:
    Call* call_;
  };

  Call(IngestionTask* task, uint64_t checkpoint, uint64_t serial)
      : task_(task), checkpoint(checkpoint), serial(serial), read_op(this) {}
  void OnComplete(bool ok) override { task_->OnCallEvent(ok); }

  IngestionTask* const task_;
  const uint64_t checkpoint;
  const uint64_t serial;
  ReadOp read_op;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<SerializedMessage, grpc::ByteBuffer>> stream;
  grpc::ByteBuffer response;
  grpc::Status status;
  uint64_t written = 0;
  absl::Time started = absl::Now();
  absl::Time last_progress = started;  // Last completion of any operation on the stream.
  bool read_in_flight = false;
  bool broken = false;  // StartCall or a write failed, or the server ended the stream early.
  bool ack_timed_out = false;
};

IngestionTask::IngestionTask(std::shared_ptr<grpc::Channel> channel, grpc::CompletionQueue* cq,
                             CompletionQueuePoller& poller, io::Ring& ring, ControlBus& bus,
                             IngestionOptions options)
    : channel_(std::move(channel)),
      stub_(channel_),
      cq_(cq),
      poller_(poller),
      ring_(ring),
      bus_(bus),
      options_(std::move(options)) {}

IngestionTask::~IngestionTask() {
  assert(call_ == nullptr && "destroy the ingestion task only once quiescent()");
  assert(quiescent() && "timers still armed");
}

void IngestionTask::Start() {
  checkpoint_deadline_ = absl::Now() + options_.checkpoint_interval;
  ArmCheckpointTimer(options_.checkpoint_interval);
}

void IngestionTask::ArmCheckpointTimer(absl::Duration after) {
  ring_.Timeout(checkpoint_timer_, after,
                io::Bind<IngestionTask, &IngestionTask::OnCheckpointTimer>(this));
}

void IngestionTask::OnCheckpointTimer(io::Completion& completion) {
  // The cancel operation, a cancelled timer, or shutting down: nothing to do.
  if (&completion != &checkpoint_timer_ || completion.result < 0 || shutting_down_) return;
  const absl::Time now = absl::Now();
  if (now >= checkpoint_deadline_) {
    EndCheckpoint();
    checkpoint_deadline_ = now + options_.checkpoint_interval;
  }
  ArmCheckpointTimer(checkpoint_deadline_ - now);
  Step();
}

void IngestionTask::Enqueue(absl::string_view serialized_message) {
  ++metrics_.messages_enqueued;
  const uint64_t position = next_position_++;
  if (shutting_down_ || state_ == State::kStopped) {
    FailWhole(current_checkpoint_);  // Disk only from now on.
    return;
  }
  if (live_.size() >= options_.live_capacity) {
    // The oldest entry is on disk already; re-ingestion sends it from there.
    NoteDropped(live_.front());
    live_.pop_front();
    ++metrics_.dropped_live;
  }
  live_.push_back(Entry{
      SerializedMessage{grpc::Slice(serialized_message.data(), serialized_message.size())},
      current_checkpoint_, position});
}

void IngestionTask::FailWhole(uint64_t checkpoint) {
  failed_checkpoints_.insert(checkpoint);
  wholly_failed_.insert(checkpoint);
}

void IngestionTask::NoteDropped(const Entry& entry) {
  failed_checkpoints_.insert(entry.checkpoint);
  std::vector<std::pair<uint64_t, uint64_t>>& ranges = dropped_[entry.checkpoint];
  // Drops come from the front of the queue, so positions arrive in ascending order.
  if (!ranges.empty() && ranges.back().second == entry.position) {
    ++ranges.back().second;
  } else {
    ranges.emplace_back(entry.position, entry.position + 1);
  }
}

uint64_t IngestionTask::EndCheckpoint() {
  checkpoint_deadline_ = absl::Now() + options_.checkpoint_interval;
  next_position_ = 0;
  const uint64_t ended = current_checkpoint_++;
  if (options_.on_checkpoint_end) options_.on_checkpoint_end(ended);
  return ended;
}

void IngestionTask::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  EndCheckpoint();
  if (checkpoint_timer_.in_flight()) {
    ring_.Cancel(checkpoint_timer_cancel_, checkpoint_timer_,
                 io::Bind<IngestionTask, &IngestionTask::OnCheckpointTimer>(this));
  }
  Step();
}

void IngestionTask::Abort() {
  Shutdown();
  aborted_ = true;
  if (call_ != nullptr) call_->context.TryCancel();  // Everything in flight completes, failed.
  // A backoff can be far longer than what is left of Finish's deadline: end it now.
  if (backoff_timer_.in_flight() && !backoff_cancel_.in_flight()) {
    ring_.Cancel(backoff_cancel_, backoff_timer_,
                 io::Bind<IngestionTask, &IngestionTask::OnBackoffCancelled>(this));
  }
}

bool IngestionTask::HasEntriesOf(uint64_t checkpoint) const {
  return !live_.empty() && live_.front().checkpoint <= checkpoint;
}

bool IngestionTask::quiescent() const {
  return call_ == nullptr && next_to_resolve_ == current_checkpoint_ &&
         !checkpoint_timer_.in_flight() && !checkpoint_timer_cancel_.in_flight() &&
         !backoff_timer_.in_flight() && !backoff_cancel_.in_flight() &&
         !ack_timers_[0].timer.in_flight() &&
         !ack_timers_[0].cancel.in_flight() && !ack_timers_[1].timer.in_flight() &&
         !ack_timers_[1].cancel.in_flight();
}

void IngestionTask::Step() {
  switch (state_) {
    case State::kIdle:
      ResolveEmptyCheckpoints();
      if (aborted_) DropAllEntries();
      if (!live_.empty()) StartStream();
      if (shutting_down_ && call_ == nullptr && next_to_resolve_ == current_checkpoint_) {
        state_ = State::kStopped;
      }
      return;
    case State::kStreaming:
      return WriteOrClose();
    case State::kStopped:
      ResolveEmptyCheckpoints();
      return;
    case State::kStarting:
    case State::kWritesDone:
    case State::kAwaitingAck:
    case State::kFinishing:
    case State::kBackoff:
      return;  // Waiting for a completion.
  }
}

// Checkpoints that ended with none of their messages left to stream (none sent, or all
// dropped) have nothing to wait for.
void IngestionTask::ResolveEmptyCheckpoints() {
  while (next_to_resolve_ < current_checkpoint_ && call_ == nullptr &&
         !HasEntriesOf(next_to_resolve_)) {
    const uint64_t checkpoint = next_to_resolve_;
    ResolveCheckpoint(checkpoint, failed_checkpoints_.count(checkpoint) == 0);
  }
}

void IngestionTask::StartStream() {
  const uint64_t checkpoint = live_.front().checkpoint;
  ResolveEmptyCheckpoints();  // Earlier, empty checkpoints first: resolution stays in order.
  call_ = std::make_unique<Call>(this, checkpoint, ++stream_serial_);
  call_->context.AddMetadata("authorization", "Bearer " + options_.api_key);
  call_->stream = stub_.PrepareCall(&call_->context, options_.method, cq_);
  ++metrics_.streams_started;
  state_ = State::kStarting;
  ArmAckTimer(call_->serial);  // The watchdog: see OnAckTimer.
  poller_.Started(*call_, GrpcOperation::Expect::kSoon);
  call_->stream->StartCall(call_->tag());
}

void IngestionTask::WriteOrClose() {
  if (write_in_flight_) return;
  Call& call = *call_;
  if (!live_.empty() && live_.front().checkpoint == call.checkpoint) {
    const bool more = live_.size() > 1 && live_[1].checkpoint == call.checkpoint;
    grpc::WriteOptions write_options;
    if (more) write_options.set_buffer_hint();  // Let gRPC batch; the last one flushes.
    write_in_flight_ = true;
    poller_.Started(call, GrpcOperation::Expect::kSoon);
    // gRPC copies what it needs before Write returns, so the entry can go now.
    call.stream->Write(live_.front().message, write_options, call.tag());
    metrics_.bytes_written += live_.front().message.bytes.size();
    live_.pop_front();
    ++call.written;
    ++metrics_.messages_written;
    return;
  }
  const bool checkpoint_ended = call.checkpoint < current_checkpoint_;
  if (checkpoint_ended) {
    state_ = State::kWritesDone;
    poller_.Started(call, GrpcOperation::Expect::kSoon);
    call.stream->WritesDone(call.tag());
  }
  // Otherwise the stream stays open, waiting for more of its checkpoint.
}

void IngestionTask::OnCallEvent(bool ok) {
  Call& call = *call_;
  call.last_progress = absl::Now();
  switch (state_) {
    case State::kStarting:
      if (!ok) return Break();
      state_ = State::kStreaming;
      call.read_in_flight = true;
      poller_.Started(call.read_op, GrpcOperation::Expect::kEventually);
      call.stream->Read(&call.response, call.read_op.tag());
      return Step();
    case State::kStreaming:  // A write.
      write_in_flight_ = false;
      if (!ok || call.broken) return Break();
      return Step();
    case State::kWritesDone:
      state_ = State::kAwaitingAck;
      if (!ok || call.broken) return Break();
      if (!call.read_in_flight) return MaybeFinish();
      // The watchdog armed at StartStream now times the acknowledgement.
      poller_.Reclassify(call.read_op, GrpcOperation::Expect::kSoon);
      return;
    case State::kAwaitingAck:  // A write that was in flight when the stream broke.
      write_in_flight_ = false;
      return MaybeFinish();
    case State::kFinishing:
      return OnFinished();
    default:
      std::abort();  // No main-tag operation is in flight in any other state.
  }
}

void IngestionTask::OnReadEvent(bool) {
  Call& call = *call_;
  call.last_progress = absl::Now();
  call.read_in_flight = false;
  // The server answers only after WritesDone (whose completion may be dispatched after this
  // one); an answer before it means the server ended the stream. Either way Finish says how.
  const bool writes_done_sent = state_ == State::kWritesDone || state_ == State::kAwaitingAck;
  if (!writes_done_sent) return Break();
  MaybeFinish();
}

// The stream is dead (start or write failed, or the server ended it). What is still in flight
// completes by itself once gRPC has the call's status; cancelling it here would replace the
// server's status with CANCELLED. The stream's watchdog bounds the wait all the same.
void IngestionTask::Break() {
  Call& call = *call_;
  call.broken = true;
  if (state_ == State::kStarting || state_ == State::kStreaming) state_ = State::kAwaitingAck;
  MaybeFinish();
}

// Finish may be called once nothing else is in flight on the stream.
void IngestionTask::MaybeFinish() {
  Call& call = *call_;
  // A WritesDone in flight comes back through OnCallEvent, which calls here again.
  if (call.read_in_flight || write_in_flight_ || state_ != State::kAwaitingAck) return;
  state_ = State::kFinishing;
  poller_.Started(call, GrpcOperation::Expect::kSoon);
  call.stream->Finish(&call.status, call.tag());
}

void IngestionTask::ArmAckTimer(uint64_t stream_serial) {
  for (AckTimer& t : ack_timers_) {
    if (t.timer.in_flight() || t.cancel.in_flight()) continue;
    t.stream_serial = stream_serial;
    ring_.Timeout(t.timer, options_.ack_timeout,
                  io::Bind<IngestionTask, &IngestionTask::OnAckTimer>(this));
    return;
  }
  assert(false && "every ack timer busy: streams cannot end that fast");
}

void IngestionTask::CancelAckTimers() {
  for (AckTimer& t : ack_timers_) {
    if (t.timer.in_flight() && !t.cancel.in_flight()) {
      ring_.Cancel(t.cancel, t.timer, io::Bind<IngestionTask, &IngestionTask::OnAckTimer>(this));
    }
  }
}

// One timer per stream, from its start: a watchdog. Whenever the stream waits on Sift — a
// start, a write (HTTP/2 flow control stalls writes when Sift stops reading), WritesDone, the
// acknowledgement — and nothing has completed for ack_timeout, the stream is cancelled and its
// checkpoint goes to re-ingestion. An open stream with nothing to send is not waiting.
void IngestionTask::OnAckTimer(io::Completion& completion) {
  for (AckTimer& t : ack_timers_) {
    if (&completion != &t.timer || completion.result < 0) continue;  // Cancel op, or cancelled.
    if (call_ == nullptr || call_->serial != t.stream_serial) return;  // Its stream is gone.
    const bool waiting = write_in_flight_ || state_ == State::kStarting ||
                         state_ == State::kWritesDone ||
                         (state_ == State::kAwaitingAck && call_->read_in_flight);
    const absl::Duration quiet = absl::Now() - call_->last_progress;
    if (waiting && quiet >= options_.ack_timeout) {
      call_->ack_timed_out = true;
      call_->context.TryCancel();  // What is in flight completes with ok == false.
      return;
    }
    const absl::Duration next = waiting ? options_.ack_timeout - quiet : options_.ack_timeout;
    ring_.Timeout(t.timer, next, io::Bind<IngestionTask, &IngestionTask::OnAckTimer>(this));
    return;
  }
}

void IngestionTask::OnFinished() {
  std::unique_ptr<Call> call = std::move(call_);
  CancelAckTimers();
  const bool ok = call->status.ok() && !call->broken && !call->ack_timed_out && !aborted_;
  metrics_.last_checkpoint_duration = absl::Now() - call->started;
  if (call->ack_timed_out) ++metrics_.ack_timeouts;
  if (ok) {
    metrics_.messages_acknowledged += call->written;
    attempts_ = 0;
    metrics_.current_backoff = absl::ZeroDuration();
  } else {
    ++metrics_.streams_failed;
    DropEntriesOf(call->checkpoint);  // On disk; re-ingestion sends them.
  }
  // A stream ends only once its checkpoint ended (or failed), so it resolves it.
  if (call->checkpoint < current_checkpoint_ || !ok) {
    if (!ok) FailWhole(call->checkpoint);
    if (call->checkpoint == current_checkpoint_) EndCheckpoint();
    ResolveCheckpoint(call->checkpoint, failed_checkpoints_.count(call->checkpoint) == 0,
                      call.get(), ok ? call->written : 0);
  }
  const bool refused_data = call->status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
                            options_.invalid_argument_fails_only_the_checkpoint;
  if (!ok && !StreamMayRetry(call->status.error_code()) && !refused_data) {
    return Fail(absl::StrCat("Sift refused the stream: ", Redacted(call->status.error_message()),
                             " (code ", call->status.error_code(),
                             "); not retrying, data stays on disk"));
  }
  if (!ok && !shutting_down_) return EnterBackoff();
  state_ = State::kIdle;
  Step();
}

// After an abort nothing more goes live: what is queued is on disk and marked for re-ingestion.
void IngestionTask::DropAllEntries() {
  while (!live_.empty()) {
    FailWhole(live_.front().checkpoint);
    live_.pop_front();
  }
}

void IngestionTask::DropEntriesOf(uint64_t checkpoint) {
  while (!live_.empty() && live_.front().checkpoint == checkpoint) live_.pop_front();
}

void IngestionTask::ResolveCheckpoint(uint64_t checkpoint, bool ok, const Call* call,
                                      uint64_t acknowledged) {
  assert(checkpoint == next_to_resolve_ && "checkpoints resolve in order");
  next_to_resolve_ = checkpoint + 1;
  failed_checkpoints_.erase(checkpoint);
  const bool whole = wholly_failed_.erase(checkpoint) > 0 || !partial_reingestion_;
  auto dropped = dropped_.find(checkpoint);
  std::vector<std::pair<uint64_t, uint64_t>> only;
  if (dropped != dropped_.end()) {
    if (!whole) only = std::move(dropped->second);
    dropped_.erase(dropped);
  }
  RecordOutcome(checkpoint, ok, call);
  if (ok) {
    ++metrics_.checkpoints_ok;
  } else {
    ++metrics_.checkpoints_failed;
    ControlMessage needs;
    needs.kind = ControlKind::kCheckpointNeedsReingestion;
    needs.checkpoint = checkpoint;
    if (call != nullptr && !call->status.ok()) {
      needs.error = absl::Status(static_cast<absl::StatusCode>(call->status.error_code()),
                                 Redacted(call->status.error_message()));
    }
    needs.only_messages = std::move(only);  // Empty: all of it.
    bus_.Publish(std::move(needs));
  }
  ControlMessage complete;
  complete.kind = ControlKind::kCheckpointComplete;
  complete.checkpoint = checkpoint;
  complete.messages_acknowledged = acknowledged;
  bus_.Publish(std::move(complete));
}

// An empty checkpoint that ended cleanly says nothing (an idle stream ends one per interval);
// every other outcome is kept for /status and logged at --v=1.
void IngestionTask::RecordOutcome(uint64_t checkpoint, bool ok, const Call* call) {
  if (ok && call == nullptr) return;
  CheckpointOutcome outcome;
  outcome.checkpoint = checkpoint;
  outcome.ended = absl::Now();
  outcome.acknowledged = ok;
  if (call != nullptr) {
    outcome.messages = call->written;
    outcome.duration = outcome.ended - call->started;
  }
  outcome.detail = ok ? "acknowledged" : FailureDetail(call);
  VLOG(1) << "sift_stream: checkpoint " << checkpoint << " ended: " << outcome.messages
          << " message(s) live in " << absl::FormatDuration(outcome.duration) << ", "
          << (ok ? "acknowledged" : "to re-ingest: ") << (ok ? "" : outcome.detail);
  if (!ok) {
    // Per checkpoint, and a flapping link fails every one of them.
    LOG_EVERY_T(WARNING, 10) << "sift_stream: checkpoint " << checkpoint
                             << " not acknowledged (" << outcome.detail
                             << "); its backup files go to re-ingestion";
  }
  recent_.push_back(std::move(outcome));
  if (recent_.size() > kRecentCheckpoints) recent_.pop_front();
  ++recorded_;
}

std::string IngestionTask::FailureDetail(const Call* call) const {
  if (aborted_) return "aborted (Finish ran out of time)";
  if (call == nullptr) {
    return state_ == State::kStopped ? "no live stream (stopped)"
                                     : "messages dropped from the full live queue";
  }
  if (call->ack_timed_out) return "no progress from Sift within ack_timeout";
  if (!call->status.ok()) {
    return Redacted(absl::StrCat("stream failed: ", call->status.error_message(), " (code ",
                                 call->status.error_code(), ")"));
  }
  if (call->broken) return "stream broken";
  return "messages dropped from the full live queue";
}

std::string IngestionTask::Redacted(absl::string_view text) const {
  return RedactApiKey(text, options_.api_key);
}

void IngestionTask::Fail(absl::string_view why) {
  LOG(ERROR) << "sift_stream: live streaming stopped: " << why;
  state_ = State::kStopped;
  while (!live_.empty()) {
    FailWhole(live_.front().checkpoint);
    live_.pop_front();
  }
  FailWhole(current_checkpoint_);
  ControlMessage error;
  error.kind = ControlKind::kErrorSignal;
  error.error = absl::FailedPreconditionError(why);
  bus_.Publish(std::move(error));
  Step();
}

absl::Duration IngestionTask::NextBackoff() {
  return RetryBackoff(options_.retry, attempts_, rng_);
}

void IngestionTask::EnterBackoff() {
  ++attempts_;
  if (options_.retry.max_attempts > 0 && attempts_ >= options_.retry.max_attempts) {
    return Fail(absl::StrCat("gave up the live stream after ", attempts_,
                             " failed attempts; data stays on disk"));
  }
  ++metrics_.retries;
  metrics_.current_backoff = NextBackoff();
  state_ = State::kBackoff;
  ring_.Timeout(backoff_timer_, metrics_.current_backoff,
                io::Bind<IngestionTask, &IngestionTask::OnBackoffTimer>(this));
}

void IngestionTask::OnBackoffTimer(io::Completion&) {
  if (state_ == State::kBackoff) state_ = State::kIdle;
  Step();
}

void IngestionTask::OnBackoffCancelled(io::Completion&) { Step(); }

}  // namespace sift_stream::engine
