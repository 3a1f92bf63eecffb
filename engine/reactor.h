// engine/reactor.h — the thread that owns all of a stream's I/O and runs its three tasks.
//
// One turn of the loop: dispatch ready gRPC events (CompletionQueuePoller), deliver control
// messages, move messages from the producers' queue to the backup manager and the ingestion
// task (in that order, one message at a time, so both see the same sequence and checkpoint
// boundaries fall between the same two messages), step the tasks, then wait in io_uring for at
// most what the poller allows. A producer's Push wakes the wait through an eventfd.
//
// Finishing is a sequence of phases, each waiting for the previous one's work to settle:
// drain the queue → end the live checkpoint and wait for Sift's verdict → let re-ingestion
// finish the failed checkpoints → publish Shutdown and wait until nothing is in flight. A
// deadline cuts the sequence short at the Shutdown step; whatever was not confirmed stays on
// disk. Internal to the engine; users see engine/sift_stream.h.
//
// With memory backups (StreamMode::kLiveWithMemoryBackups) a MemoryBackup takes the backup
// manager's place (its part of the reactor is reactor_memory.cc): a full ring refuses Send at
// once, Flush waits for Sift's acknowledgement as in live-only mode, and whatever is not
// acknowledged when the reactor stops is lost with the process, which Finish reports.

#ifndef SIFT_STREAM_ENGINE_REACTOR_H_
#define SIFT_STREAM_ENGINE_REACTOR_H_

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/backup_manager.h"
#include "engine/completion_queue_poller.h"
#include "engine/control_message.h"
#include "engine/finish_report.h"
#include "engine/ingestion_task.h"
#include "engine/memory_backup.h"
#include "engine/message_queue.h"
#include "engine/reingestion_task.h"
#include "engine/sift_stream.h"
#include "io/ring.h"
#include "io/wakeup.h"

namespace sift_stream::engine {

struct ReactorConfig {
  StreamMode mode = StreamMode::kLiveWithBackups;
  std::shared_ptr<grpc::Channel> live_channel;
  std::shared_ptr<grpc::Channel> reingest_channel;
  std::string api_key;
  std::string stream_id;
  DiskBackupPolicy backups;
  MemoryBackupPolicy memory;  // kLiveWithMemoryBackups only.
  IngestionOptions ingestion;
  ReingestionOptions reingestion;
  size_t data_capacity = 10240;
  size_t control_capacity = 1024;
  // SiftStreamBuilder::NoRetries(): no re-ingestion task and no start-up recovery.
  bool no_retries = false;
  // The backup directory's lock as Build() took it (BackupManagerOptions::held_lock_fd),
  // still Build()'s to close; -1: the backup manager locks the directory itself.
  int backup_dir_lock_fd = -1;
};

class Reactor {
 public:
  // Creates every part (failing on a bad backup directory) and starts the thread.
  static absl::StatusOr<std::unique_ptr<Reactor>> Start(ReactorConfig config);
  // Finishes with a short deadline if Finish() was not called.
  ~Reactor();

  // Any thread. See MessageQueue::Push.
  absl::Status Push(std::string& serialized_message);
  // Any thread. See MessageQueue::TryPush: never waits for the queue's lock.
  // The refusal Push() would give now (full queue or memory backup), without the queue's
  // lock: OK when there may be room. See MessageQueue::RefuseIfFull().
  absl::Status RefuseIfFull();
  // SiftStream::WaitForRoom.
  bool WaitForRoom(absl::Duration timeout);
  absl::Status TryPush(std::string& serialized_message);

  // Any thread, any number of times; see SiftStream::Flush.
  absl::Status Flush(absl::Duration timeout);

  // Any thread, once; later calls return the first result.
  absl::Status Finish(absl::Duration timeout);
  // Finish(), with what it can prove (engine/finish_report.h); report.status is Finish's.
  FinishReport FinishWithReport(absl::Duration timeout);

  SiftStreamMetrics Metrics() const;
  // Any thread; see SiftStream::RecentCheckpoints.
  std::vector<CheckpointOutcome> RecentCheckpoints() const;

 private:
  enum class Phase {
    kRunning,     // Taking messages.
    kDraining,    // Queue closed: moving what is left to the tasks.
    kEndingLive,  // Last checkpoint ended: waiting for Sift's verdict on every checkpoint.
    kReingesting, // Waiting for re-ingestion of failed checkpoints.
    kStopping,    // Shutdown published: waiting for nothing to be in flight.
    kStopped,
  };

  // A Flush() call waiting for the reactor. Lives on the caller's stack; the reactor touches
  // it only under flush_mu_, and the caller removes it before returning.
  struct FlushRequest {
    uint64_t target = 0;           // Messages pushed before the call: the ones to confirm.
    uint64_t live_checkpoint = 0;  // Live-only: the checkpoint ended for it (0: not yet).
    bool done = false;
    absl::Status result;
  };

  explicit Reactor(ReactorConfig config);
  absl::Status Build();
  void StartRecovery();
  // Hands the next leftover files to re-ingestion, a few at a time: a directory may hold
  // thousands, and the control bus is bounded.
  void FeedRecovery();
  void ServeFlushes(bool stopped);
  std::optional<absl::Status> FlushToDisk(FlushRequest& request, bool stopped);
  std::optional<absl::Status> FlushToSift(FlushRequest& request, bool stopped);
  // SyncPolicy::kInterval: syncs the backup when due; returns how long until the next one.
  absl::Duration SyncOnInterval();
  void Loop();
  void Turn();
  void MoveMessages();
  void StepPhase();
  void BeginAbort();
  void OnBackupFailure(const absl::Status& status);
  // A full backup disk stalls Send (messages wait, nothing dropped): tells producers why. A
  // failed one (found by a write, a sync or a completion) stops Send.
  void WatchBackup();
  void Sleep(absl::Duration wait, bool backup_ready);
  bool LiveOnlyFull() const;
  // condition_variable::wait_for adds the timeout to now(): an infinite one would overflow.
  static std::chrono::microseconds ChronoTimeout(absl::Duration timeout);
  void OnControl(const ControlMessage& message);
  void OnWake(io::Completion& completion);
  [[noreturn]] static void Fatal(const absl::Status& status);
  bool TasksQuiescent() const;
  void PublishMetrics();
  absl::Status Verdict();
  FinishReport BuildReport() const;

  // Memory backups (reactor_memory.cc).
  void BuildMemoryBackup();
  // Appends one message; false to leave it queued (the ring is full) for a later turn.
  bool MoveToMemory(const std::string& message);
  bool MemoryHasRoom() const;
  // Tells producers when the ring fills up and when it has room again.
  void WatchMemory();
  std::optional<absl::Status> FlushFromMemory(FlushRequest& request, bool stopped);
  // Messages Send accepted that Sift never acknowledged and memory no longer holds.
  uint64_t MemoryMessagesLost() const;
  absl::Status MemoryVerdict();

  ReactorConfig config_;
  std::unique_ptr<io::Ring> ring_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<CompletionQueuePoller> poller_;
  ControlBus bus_;
  MessageQueue queue_;
  std::unique_ptr<io::Wakeup> wakeup_;
  std::unique_ptr<BackupManager> backup_;
  std::unique_ptr<MemoryBackup> memory_;  // Instead of backup_, in kLiveWithMemoryBackups.
  std::unique_ptr<IngestionTask> ingestion_;
  std::unique_ptr<ReingestionTask> reingestion_;

  // Reactor thread only.
  Phase phase_ = Phase::kRunning;
  std::vector<std::string> batch_;
  size_t batch_next_ = 0;
  size_t batch_size_ = 0;
  std::vector<std::string> reingest_files_;  // Files handed to re-ingestion, in order.
  uint64_t reingest_jobs_ = 0;
  uint64_t error_signals_ = 0;
  std::string last_error_;
  bool aborting_ = false;           // The deadline ran out: cancel, keep everything on disk.
  uint64_t moved_ = 0;              // Messages handed to the tasks, in push order.
  bool backup_stalled_ = false;     // The backup disk is full (BackupManager::stall()).
  uint64_t backup_stalls_ = 0;
  uint64_t sync_issued_through_ = 0;  // backup_->messages_appended() at the last Flush sync.
  absl::Time next_interval_sync_ = absl::InfiniteFuture();  // Not scheduled.
  uint64_t live_resolved_through_ = 0;  // Highest checkpoint with kCheckpointComplete.
  uint64_t first_failed_checkpoint_ = 0;  // Lowest with kCheckpointNeedsReingestion (0: none).
  std::vector<std::string> recovery_files_;  // Left by a process that is gone; sent again.
  size_t recovery_next_ = 0;  // recovery_files_[recovery_next_..] are not handed over yet.
  absl::Status backup_failure_;     // The backup disk's first error; Send refuses after it.
  // Where each ended live checkpoint ends in the message order (moved_ at its end), and the
  // checkpoints Sift did not acknowledge: together with the backup's durable prefix they say
  // exactly which messages a failed backup disk leaves unprotected.
  // Entries wholly durable on disk are dropped (pruned_end_ is where the first one starts).
  std::deque<std::pair<uint64_t, uint64_t>> checkpoint_ends_;  // {checkpoint, end}
  uint64_t pruned_end_ = 0;
  std::vector<uint64_t> failed_checkpoints_;
  OutcomeLedger outcomes_;  // What FinishWithReport says.
  // Messages neither durable on disk nor acknowledged by Sift (only after a backup failure).
  // Files Sift acknowledged whose deletion failed (backup manager and re-ingestion).
  std::vector<std::string> UndeletedFiles() const;
  void RemoveUndeleted(std::vector<std::string>& files) const;
  uint64_t UnprotectedMessages() const;
  // Memory backups: the ring is full (Push refuses at once), how often it filled, and
  // messages a deadline left in the send queue that the full ring never took.
  std::atomic<bool> memory_full_{false};
  std::string memory_full_error_;  // Set in Build; Push reads it when memory_full_.
  bool memory_stalled_ = false;  // Reactor thread: what memory_full_ says, set first.
  uint64_t memory_full_stalls_ = 0;
  uint64_t memory_dropped_at_abort_ = 0;
  uint64_t memory_held_at_stop_ = 0;  // Set by the verdict: lost with the stream.

  std::thread thread_;
  // The reactor is about to block (or is blocked) in the ring for longer than kNapLimit: a
  // producer that queues a message must wake it. While it is awake, or napping briefly
  // between gRPC polls, it finds new messages by itself, and producers make no system call.
  std::atomic<bool> asleep_{false};
  std::atomic<bool> finish_requested_{false};
  std::atomic<bool> abort_requested_{false};
  // Standard-library locks throughout: ThreadSanitizer sees pthread locks, not Debian's
  // uninstrumented Abseil.
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;  // Guarded by stop_mu_.
  absl::Status verdict_;  // Written by the reactor before stopped_ is set.
  FinishReport report_;   // Likewise.

  mutable std::mutex metrics_mu_;
  SiftStreamMetrics metrics_;  // Guarded by metrics_mu_.
  std::vector<CheckpointOutcome> checkpoints_;  // Guarded by metrics_mu_.
  uint64_t checkpoints_copied_ = 0;  // ingestion_->checkpoints_recorded() at the last copy.
  absl::Time metrics_published_ = absl::InfinitePast();

  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  std::vector<FlushRequest*> flushes_;  // Guarded by flush_mu_.
  bool flushes_closed_ = false;         // Guarded by flush_mu_: the reactor stopped.
  uint64_t confirmed_at_stop_ = 0;      // Guarded by flush_mu_: Flush's answer after that.
  std::atomic<int> flushes_waiting_{0};

  std::mutex finish_mu_;
  bool finished_ = false;  // Guarded by finish_mu_.
  absl::Status finish_result_;  // Guarded by finish_mu_.
  FinishReport finish_report_;  // Guarded by finish_mu_.
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_REACTOR_H_
