// engine/ingestion_task.h — the live path: one gRPC client stream per checkpoint.
//
// The ingestion task takes messages the reactor has already handed to the backup manager and
// streams them to Sift on `IngestWithConfigDataStream`. Every message belongs to a checkpoint;
// a checkpoint's messages go on one stream, which the task ends with WritesDone + Finish when
// the checkpoint ends (timer, BackupFull, shutdown — the reactor calls EndCheckpoint()). Then:
//
//   Finish OK, nothing dropped         → CheckpointComplete{k}
//   stream failed, ack timed out, or
//   messages of k dropped from the
//   live queue                         → CheckpointNeedsReingestion{k}, then CheckpointComplete{k}
//
// so the backup manager deletes k's files only if Sift acknowledged every message of k on the
// live stream, and queues them for re-ingestion otherwise. A failed stream is not retried with
// the same messages (they are on disk and will be re-ingested); the next stream starts after an
// exponential backoff. Statuses that retrying cannot fix (UNAUTHENTICATED, PERMISSION_DENIED,
// INVALID_ARGUMENT) stop the live stream for good and raise ErrorSignal: data keeps going to
// disk, every later checkpoint is marked for re-ingestion.
//
// Writes are coalesced: every write but the last one currently queued carries gRPC's buffer
// hint, so gRPC sends many messages per system call (5x faster here than one write in flight
// without the hint; ../shared/toolchain.md). The live queue is bounded: when full, the oldest
// entry is dropped (it is on disk) and its checkpoint is marked for re-ingestion.
//
// One state enum, one step function (Step), each step starting at most one gRPC operation;
// completions arrive through the CompletionQueuePoller and the ring (timers). Reactor thread
// only.

#ifndef SIFT_STREAM_ENGINE_INGESTION_TASK_H_
#define SIFT_STREAM_ENGINE_INGESTION_TASK_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/completion_queue_poller.h"
#include "engine/control_message.h"
#include "engine/grpc_operation.h"
#include "engine/retry_rules.h"
#include "engine/serialized_message.h"
#include "io/ring.h"

namespace sift_stream::engine {

struct IngestionOptions {
  std::string method = "/sift.ingest.v1.IngestService/IngestWithConfigDataStream";
  std::string api_key;
  absl::Duration checkpoint_interval = absl::Seconds(60);
  // How long a stream may wait on Sift with nothing completing — a write stalled by flow
  // control, the acknowledgement after WritesDone — before it is cancelled and its checkpoint
  // re-ingested.
  absl::Duration ack_timeout = absl::Seconds(30);
  size_t live_capacity = 10240;
  RetryPolicy retry;
  // Called (reactor thread) at the moment a checkpoint ends — by EndCheckpoint(), Shutdown(),
  // or a stream failing mid-checkpoint — with the number of the checkpoint that ended, so the
  // backup manager can start the next checkpoint's files at exactly the same message.
  std::function<void(uint64_t ended_checkpoint)> on_checkpoint_end;
  // INVALID_ARGUMENT fails only the checkpoint (its kCheckpointNeedsReingestion carries the
  // status) instead of stopping the task: for re-ingestion, where it is one file's data that
  // Sift refuses, not the connection or the key.
  bool invalid_argument_fails_only_the_checkpoint = false;
};

struct IngestionMetrics {
  uint64_t messages_enqueued = 0;
  uint64_t messages_written = 0;  // Handed to gRPC on a live stream.
  uint64_t bytes_written = 0;
  uint64_t messages_acknowledged = 0;  // On streams that finished OK.
  uint64_t dropped_live = 0;
  uint64_t streams_started = 0;
  uint64_t streams_failed = 0;
  uint64_t checkpoints_ok = 0;
  uint64_t checkpoints_failed = 0;
  uint64_t ack_timeouts = 0;  // Streams cancelled for waiting ack_timeout on Sift.
  uint64_t retries = 0;
  absl::Duration current_backoff = absl::ZeroDuration();
  // From the start of the last finished stream to Sift's verdict on it.
  absl::Duration last_checkpoint_duration = absl::ZeroDuration();
  size_t live_queue_depth = 0;
};

// How one live checkpoint ended. Kept for the last few (IngestionTask::recent_checkpoints)
// so that an operator sees a pattern — every checkpoint timing out, say — not just counters.
struct CheckpointOutcome {
  uint64_t checkpoint = 0;
  uint64_t messages = 0;  // Written on its live stream.
  absl::Time ended = absl::InfinitePast();  // When Sift's verdict came (or it was given up).
  // From its stream's start to the verdict; zero when no stream carried it.
  absl::Duration duration = absl::ZeroDuration();
  bool acknowledged = false;
  // "acknowledged", or why it goes to re-ingestion. Never holds the API key.
  std::string detail;
};

class IngestionTask {
 public:
  // How many outcomes recent_checkpoints() keeps.
  static constexpr size_t kRecentCheckpoints = 20;

  enum class State {
    kIdle,        // No stream: waiting for a message or for the backoff to end.
    kStarting,    // StartCall in flight.
    kStreaming,   // Stream open; a write may be in flight.
    kWritesDone,  // WritesDone in flight.
    kAwaitingAck, // Reading the response: Sift's acknowledgement (the ack timer runs).
    kFinishing,   // Finish in flight: the stream's status.
    kBackoff,     // Waiting before the next stream after a failure.
    kStopped,     // A non-retryable status, or shut down: no more live streams.
  };

  // `channel`, `cq`, `poller`, `ring` and `bus` must outlive the task.
  IngestionTask(std::shared_ptr<grpc::Channel> channel, grpc::CompletionQueue* cq,
                CompletionQueuePoller& poller, io::Ring& ring, ControlBus& bus,
                IngestionOptions options);
  ~IngestionTask();

  // Arms the checkpoint timer. Call once before the first Step().
  void Start();

  // A message for the live stream, in the current checkpoint. Never fails (see file comment).
  void Enqueue(absl::string_view serialized_message);

  // From now on every failed checkpoint is re-ingested whole: positions in the live queue may
  // no longer match the backup files (the backup disk failed and messages went live only).
  void ForbidPartialReingestion() { partial_reingestion_ = false; }

  // Ends the current checkpoint: later messages belong to the next one. Returns the number of
  // the checkpoint ended. The reactor tells the backup manager the same boundary.
  uint64_t EndCheckpoint();

  // Ends the current checkpoint and stops starting streams once its stream has finished.
  void Shutdown();

  // For a deadline that ran out: cancels the stream in flight (its checkpoint then fails and
  // is resolved as needing re-ingestion) so that quiescent() comes promptly.
  void Abort();

  // Advances the state machine as far as it can without waiting. Call every reactor turn.
  void Step();

  State state() const { return state_; }
  uint64_t current_checkpoint() const { return current_checkpoint_; }
  // True when every ended checkpoint has been resolved and nothing is in flight.
  bool quiescent() const;
  const IngestionMetrics& metrics() const { return metrics_; }
  // Messages waiting in the live queue. A producer that must never lose a message to the
  // drop-oldest rule (the re-ingestion task) keeps this below options.live_capacity.
  size_t live_depth() const { return live_.size(); }
  // Checkpoints that streamed messages or failed, oldest first; checkpoints_recorded() counts
  // every one ever recorded, so a reader copies only when it changed.
  const std::deque<CheckpointOutcome>& recent_checkpoints() const { return recent_; }
  uint64_t checkpoints_recorded() const { return recorded_; }

  // Checkpoint timer (reactor thread).
  void OnCheckpointTimer(io::Completion& completion);
  void OnAckTimer(io::Completion& completion);

 private:
  struct Entry {
    SerializedMessage message;
    uint64_t checkpoint;
    uint64_t position;  // In the checkpoint's send order (and so in its backup files).
  };
  class Call;  // One stream: its context, call object and tag.

  void StartStream();
  void WriteOrClose();
  void OnCallEvent(bool ok);
  void OnReadEvent(bool ok);
  void Break();
  void MaybeFinish();
  void OnFinished();
  // `call`: the stream that carried the checkpoint, if one did; `acknowledged`: how many of
  // its messages Sift acknowledged on it.
  void ResolveCheckpoint(uint64_t checkpoint, bool ok, const Call* call = nullptr,
                         uint64_t acknowledged = 0);
  void RecordOutcome(uint64_t checkpoint, bool ok, const Call* call);
  std::string FailureDetail(const Call* call) const;
  // `text` with the API key cut out: server messages are logged and shown on /status.
  std::string Redacted(absl::string_view text) const;
  void ResolveEmptyCheckpoints();
  bool HasEntriesOf(uint64_t checkpoint) const;
  void FailWhole(uint64_t checkpoint);
  void NoteDropped(const Entry& entry);
  void Fail(absl::string_view why);
  void DropEntriesOf(uint64_t checkpoint);
  void DropAllEntries();
  void ArmAckTimer(uint64_t stream_serial);
  void CancelAckTimers();
  void EnterBackoff();
  void OnBackoffTimer(io::Completion& completion);
  void OnBackoffCancelled(io::Completion& completion);
  absl::Duration NextBackoff();
  void ArmCheckpointTimer(absl::Duration after);

  std::shared_ptr<grpc::Channel> channel_;
  grpc::TemplatedGenericStub<SerializedMessage, grpc::ByteBuffer> stub_;
  grpc::CompletionQueue* const cq_;
  CompletionQueuePoller& poller_;
  io::Ring& ring_;
  ControlBus& bus_;
  const IngestionOptions options_;

  State state_ = State::kIdle;
  std::deque<Entry> live_;
  std::unique_ptr<Call> call_;
  bool write_in_flight_ = false;
  bool shutting_down_ = false;
  bool aborted_ = false;

  uint64_t current_checkpoint_ = 1;
  // Checkpoints below this are resolved (CheckpointComplete published).
  uint64_t next_to_resolve_ = 1;
  // Checkpoints that must be re-ingested (failed stream or drops), not yet resolved.
  std::set<uint64_t> failed_checkpoints_;
  // Why each failed checkpoint failed decides what is re-ingested: a checkpoint whose stream
  // Sift acknowledged but from which the full live queue dropped messages needs only those
  // (dropped_); one whose stream failed, or that lost messages otherwise, needs all of them
  // (wholly_failed_).
  std::set<uint64_t> wholly_failed_;
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> dropped_;
  uint64_t next_position_ = 0;  // Of the next message of current_checkpoint_.
  bool partial_reingestion_ = true;  // Off once positions may no longer match the files.

  absl::Time checkpoint_deadline_;
  io::Completion checkpoint_timer_;
  // Several, because earlier streams' timers may still be completing their cancellation when
  // the next stream needs one; each remembers the stream it was armed for.
  struct AckTimer {
    io::Completion timer;
    io::Completion cancel;
    uint64_t stream_serial = 0;
  };
  AckTimer ack_timers_[4];
  io::Completion checkpoint_timer_cancel_;
  io::Completion backoff_timer_;
  io::Completion backoff_cancel_;
  uint64_t stream_serial_ = 0;
  int attempts_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  IngestionMetrics metrics_;
  std::deque<CheckpointOutcome> recent_;
  uint64_t recorded_ = 0;
};

const char* IngestionStateName(IngestionTask::State state);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_INGESTION_TASK_H_
