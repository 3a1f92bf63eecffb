#include "engine/reactor.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/backup_dir.h"

namespace sift_stream::engine {
namespace {

// Messages moved from the queue per turn: enough to amortize the turn, few enough that gRPC
// events and timers are not kept waiting.
constexpr size_t kMessagesPerTurn = 4096;
constexpr size_t kPopBatch = 256;

}  // namespace

std::chrono::microseconds Reactor::ChronoTimeout(absl::Duration timeout) {
  return absl::ToChronoMicroseconds(std::min(timeout, absl::Hours(24 * 365)));
}

Reactor::Reactor(ReactorConfig config)
    : config_(std::move(config)),
      bus_(config_.control_capacity),
      queue_(config_.data_capacity) {}

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Start(ReactorConfig config) {
  std::unique_ptr<Reactor> reactor(new Reactor(std::move(config)));
  if (absl::Status built = reactor->Build(); !built.ok()) return built;
  Reactor* r = reactor.get();
  reactor->thread_ = std::thread([r] { r->Loop(); });
  return reactor;
}

absl::Status Reactor::Build() {
  auto ring = io::Ring::Create(256);
  if (!ring.ok()) return ring.status();
  ring_ = std::move(ring).value();
  poller_ = std::make_unique<CompletionQueuePoller>(&cq_);
  bus_.Subscribe([this](const ControlMessage& message) { OnControl(message); });
  const StreamMode mode = config_.mode;
  // What can fail comes before anything that puts an operation in flight on the ring.
  if (mode == StreamMode::kLiveWithBackups || mode == StreamMode::kBackupsOnly) {
    BackupManagerOptions options;
    options.held_lock_fd = config_.backup_dir_lock_fd;
    auto backup =
        BackupManager::Create(*ring_, bus_, config_.backups, config_.stream_id, options);
    if (!backup.ok()) return backup.status();
    backup_ = std::move(backup).value();
  }
  auto wakeup = io::Wakeup::Create(*ring_, io::Bind<Reactor, &Reactor::OnWake>(this));
  if (!wakeup.ok()) return wakeup.status();
  wakeup_ = std::move(wakeup).value();
  if (mode == StreamMode::kLiveWithMemoryBackups) BuildMemoryBackup();
  if (mode != StreamMode::kBackupsOnly) {
    IngestionOptions options = config_.ingestion;
    options.api_key = config_.api_key;
    options.live_capacity = config_.data_capacity;
    // The boundary between checkpoints falls between the same two messages on disk and wire.
    options.on_checkpoint_end = [this](uint64_t ended) {
      checkpoint_ends_.emplace_back(ended, moved_);
      outcomes_.Ended(ended, moved_);
      const uint64_t durable = backup_ != nullptr ? backup_->durable_messages() : 0;
      while (!checkpoint_ends_.empty() && checkpoint_ends_.front().second <= durable) {
        pruned_end_ = checkpoint_ends_.front().second;
        checkpoint_ends_.pop_front();
      }
      if (backup_ != nullptr) backup_->EndCheckpoint(ended);
      if (memory_ != nullptr) memory_->EndCheckpoint(ended);
    };
    ingestion_ = std::make_unique<IngestionTask>(config_.live_channel, &cq_, *poller_, *ring_,
                                                 bus_, std::move(options));
    ingestion_->Start();
  }
  if ((mode == StreamMode::kLiveWithBackups || mode == StreamMode::kLiveWithMemoryBackups) &&
      !config_.no_retries) {
    ReingestionOptions options = config_.reingestion;
    options.api_key = config_.api_key;
    options.retain_backups = mode == StreamMode::kLiveWithBackups && config_.backups.retain_backups;
    reingestion_ = std::make_unique<ReingestionTask>(config_.reingest_channel, &cq_, *poller_,
                                                     *ring_, bus_, std::move(options));
    reingestion_->Start();
    if (mode == StreamMode::kLiveWithBackups) StartRecovery();  // Memory has no leftovers.
  }
  return absl::OkStatus();
}

// Files a process that is gone left in the backup directory (it crashed, or its Finish ran out
// of time): the directory lock (engine/backup_dir.h) is ours, so no live stream writes them.
// One job per file, so that a failure retries only that file.
void Reactor::StartRecovery() {
  recovery_files_ = LeftoverBackupFiles(config_.backups.backup_dir, config_.stream_id);
  FeedRecovery();
}

void Reactor::FeedRecovery() {
  constexpr size_t kRecoveryJobsQueued = 8;
  if (reingestion_ == nullptr || aborting_ || phase_ >= Phase::kStopping) return;
  size_t queued = reingestion_->metrics().pending_jobs;
  for (; recovery_next_ < recovery_files_.size() && queued < kRecoveryJobsQueued; ++queued) {
    ControlMessage job;
    job.kind = ControlKind::kReingestBackups;
    job.checkpoint = 0;  // Start-up recovery (engine/reingestion_task.h).
    job.backup_files = {recovery_files_[recovery_next_++]};
    bus_.Publish(std::move(job));
  }
}

Reactor::~Reactor() {
  if (thread_.joinable()) (void)Finish(absl::Seconds(5));
}

absl::Status Reactor::Push(std::string& serialized_message) {
  // A full memory ring refuses at once, rather than once the send queue has filled too.
  if (memory_full_.load(std::memory_order_acquire)) {
    return absl::ResourceExhaustedError(memory_full_error_);
  }
  absl::Status pushed = queue_.Push(serialized_message);
  // Pairs with Sleep(): the push (under the queue's lock) and this load against the reactor's
  // store of asleep_ and its look at the queue — one of the two sees the other.
  if (pushed.ok() && asleep_.load(std::memory_order_seq_cst)) wakeup_->Notify();
  return pushed;
}

absl::Status Reactor::RefuseIfFull() {
  if (memory_full_.load(std::memory_order_acquire)) {
    return absl::ResourceExhaustedError(memory_full_error_);
  }
  return queue_.RefuseIfFull();
}

bool Reactor::WaitForRoom(absl::Duration timeout) {
  if (memory_full_.load(std::memory_order_acquire)) {
    // Room in the ring comes with Sift's acknowledgements: nothing to wait on but time.
    absl::SleepFor(std::min(timeout, absl::Milliseconds(1)));
    return !memory_full_.load(std::memory_order_acquire);
  }
  return queue_.WaitForRoom(timeout);
}

absl::Status Reactor::TryPush(std::string& serialized_message) {
  if (memory_full_.load(std::memory_order_acquire)) {
    return absl::ResourceExhaustedError(memory_full_error_);
  }
  absl::Status pushed = queue_.TryPush(serialized_message);
  // As in Push(); Notify is an eventfd write at most: never blocks.
  if (pushed.ok() && asleep_.load(std::memory_order_seq_cst)) wakeup_->Notify();
  return pushed;
}

void Reactor::OnWake(io::Completion&) {}

// The ring itself failed: nothing the kernel still holds (buffers, completions) could be freed
// safely, and no operation can complete. Stopping the process is the only safe answer; the
// backup files on disk are intact up to their last completed write.
void Reactor::Fatal(const absl::Status& status) {
  LOG(ERROR) << "sift_stream: the reactor's io_uring failed: " << status.message();
  std::abort();
}  // The turn that follows moves the messages.

void Reactor::Loop() {
  while (phase_ != Phase::kStopped) Turn();
  poller_->Shutdown();
  wakeup_->Disarm();
  while (wakeup_->armed() || ring_->in_flight() > 0) {
    if (absl::StatusOr<int> ran = ring_->RunOnce(absl::Milliseconds(100)); !ran.ok()) {
      Fatal(ran.status());
    }
  }
  PublishMetrics();
  ServeFlushes(/*stopped=*/true);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
}

void Reactor::Turn() {
  poller_->Poll();
  bus_.Deliver();
  MoveMessages();
  if (ingestion_ != nullptr) ingestion_->Step();
  bus_.Deliver();
  if (reingestion_ != nullptr) reingestion_->Step();
  bus_.Deliver();
  if (recovery_next_ < recovery_files_.size()) FeedRecovery();
  WatchBackup();
  WatchMemory();
  StepPhase();
  ServeFlushes(/*stopped=*/false);
  const absl::Duration until_sync = SyncOnInterval();
  if (absl::Now() - metrics_published_ > absl::Milliseconds(5)) PublishMetrics();
  if (phase_ == Phase::kStopped) return;
  absl::Duration wait = std::min({poller_->NextWait(), absl::Seconds(1), until_sync});
  const bool backup_ready = (backup_ == nullptr || backup_->accepting()) &&
                            (memory_ == nullptr || MemoryHasRoom()) && !LiveOnlyFull();
  const bool more_to_move = batch_next_ < batch_size_ || queue_.size() > 0;
  const bool reingest_ready = reingestion_ != nullptr && reingestion_->ready_to_feed();
  if ((more_to_move && backup_ready) || bus_.pending() > 0 || reingest_ready) {
    wait = absl::ZeroDuration();
  }
  if (phase_ != Phase::kRunning) wait = std::min(wait, absl::Milliseconds(10));
  Sleep(wait, backup_ready);
}

// Producers wake the reactor only when it says it sleeps (asleep_): an eventfd write per
// wake-up was most of the live path's system calls at moderate rates (docs/performance.md).
// A nap no longer than kNapLimit (the poller's short waits while gRPC has writes in flight)
// goes unannounced: the next turn finds what arrived meanwhile.
void Reactor::Sleep(absl::Duration wait, bool backup_ready) {
  constexpr absl::Duration kNapLimit = absl::Microseconds(200);
  const bool announce = wait > kNapLimit;
  if (announce) {
    asleep_.store(true, std::memory_order_seq_cst);
    // A message pushed before the store above is seen here; one pushed after it sees asleep_.
    if (backup_ready && queue_.size() > 0) wait = absl::ZeroDuration();
  }
  absl::StatusOr<int> ran = ring_->RunOnce(wait);
  if (announce) asleep_.store(false, std::memory_order_relaxed);
  if (!ran.ok()) Fatal(ran.status());
}

// Without backups the live queue's drop-oldest rule would lose messages Send accepted: while
// it is full, messages stay in the send queue, which then refuses (back-pressure). An abort
// moves them anyway: Finish ran out of time and counts them lost.
bool Reactor::LiveOnlyFull() const {
  return config_.mode == StreamMode::kLiveOnly && ingestion_ != nullptr && !aborting_ &&
         ingestion_->live_depth() >= config_.data_capacity;
}

void Reactor::MoveMessages() {
  for (size_t moved = 0; moved < kMessagesPerTurn; ++moved) {
    if (batch_next_ == batch_size_) {
      batch_size_ = queue_.PopBatch(batch_, kPopBatch);
      batch_next_ = 0;
      if (batch_size_ == 0) return;
    }
    if (LiveOnlyFull()) return;  // Send refuses until the stream takes some: nothing dropped.
    const std::string& message = batch_[batch_next_];
    if (backup_ != nullptr) {
      absl::Status appended = backup_->Append(message);
      if (absl::IsUnavailable(appended)) return;  // Buffers busy: the same message next turn.
      if (!appended.ok()) OnBackupFailure(appended);  // Still goes live, unprotected.
    }
    if (memory_ != nullptr && !MoveToMemory(message)) return;  // Full: the same one later.
    if (ingestion_ != nullptr) ingestion_->Enqueue(message);
    ++batch_next_;
    ++moved_;
  }
}

// The disk can no longer protect messages: refuse new ones (Send says why) and remember
// where the failure fell, so that Finish can tell whether anything went unacknowledged.
void Reactor::OnBackupFailure(const absl::Status& status) {
  if (!backup_failure_.ok()) return;
  backup_failure_ = status;
  LOG(ERROR) << "sift_stream: the backup disk failed (" << status.message()
             << "); Send refuses new messages";
  last_error_ = std::string(status.message());
  ++error_signals_;
  // Messages go live without a place in the files now: positions no longer match them.
  if (ingestion_ != nullptr) ingestion_->ForbidPartialReingestion();
  queue_.Close(absl::FailedPreconditionError(absl::StrCat(
      "the backup disk failed (", status.message(),
      "): new messages cannot be protected; fix the disk and start a new stream")));
}

void Reactor::WatchBackup() {
  if (backup_ == nullptr) return;
  if (!backup_->status().ok()) OnBackupFailure(backup_->status());
  const absl::Status stall = backup_->stall();
  if (stall.ok() == !backup_stalled_) return;
  backup_stalled_ = !stall.ok();
  // A disk hovering at full may stall and resume many times a second.
  LOG_EVERY_T(WARNING, 10) << "sift_stream: backup disk "
                           << (backup_stalled_ ? absl::StrCat("full: ", stall.message(),
                                                              "; Send refuses until space "
                                                              "comes back")
                                               : "has space again; writing resumed");
  if (backup_stalled_) {
    ++backup_stalls_;
    last_error_ = std::string(stall.message());
    // Publish before Send can name the reason, so a caller who reads it sees the metric too.
    PublishMetrics();
    queue_.SetFullReason(absl::StrCat("the backup disk is full (", stall.message(),
                                      "); messages wait in memory until space comes back"));
  } else {
    PublishMetrics();
    queue_.SetFullReason("");
  }
}

void Reactor::OnControl(const ControlMessage& message) {
  switch (message.kind) {
    case ControlKind::kBackupFull:
      // Also while draining: smaller checkpoints mean less to re-ingest if one fails. Only
      // for the checkpoint still open (a timer may have ended it in the same turn).
      if (ingestion_ != nullptr && !aborting_ &&
          (phase_ == Phase::kRunning || phase_ == Phase::kDraining) &&
          message.checkpoint == ingestion_->current_checkpoint()) {
        ingestion_->EndCheckpoint();
      }
      return;
    case ControlKind::kReingestBackups:
      ++reingest_jobs_;
      reingest_files_.insert(reingest_files_.end(), message.backup_files.begin(),
                             message.backup_files.end());
      return;
    case ControlKind::kErrorSignal: {
      ++error_signals_;
      last_error_ = std::string(message.error.message());
      // Re-ingestion retries may raise one per attempt.
      LOG_EVERY_T(ERROR, 10) << "sift_stream: " << last_error_ << " (" << error_signals_
                             << " error(s) so far)";
      return;
    }
    case ControlKind::kCheckpointComplete:
      live_resolved_through_ = std::max(live_resolved_through_, message.checkpoint);
      outcomes_.Complete(message.checkpoint, message.messages_acknowledged);
      return;
    case ControlKind::kCheckpointNeedsReingestion:
      failed_checkpoints_.push_back(message.checkpoint);
      outcomes_.NeedsReingestion(message.checkpoint);
      if (first_failed_checkpoint_ == 0 || message.checkpoint < first_failed_checkpoint_) {
        first_failed_checkpoint_ = message.checkpoint;
      }
      return;
    default:
      return;
  }
}

bool Reactor::TasksQuiescent() const {
  return (ingestion_ == nullptr || ingestion_->quiescent()) &&
         (reingestion_ == nullptr || reingestion_->quiescent()) &&
         (backup_ == nullptr || backup_->idle()) && bus_.pending() == 0;
}

// A deadline that ran out: stop taking messages, cancel what is in flight on the network,
// but still move every accepted message to disk before the tasks stop.
void Reactor::BeginAbort() {
  if (aborting_) return;
  aborting_ = true;
  queue_.Close();
  if (ingestion_ != nullptr) ingestion_->Abort();
  if (reingestion_ != nullptr) reingestion_->Abort();
}

void Reactor::StepPhase() {
  if (abort_requested_.load() && phase_ != Phase::kStopped) BeginAbort();
  // A deadline that ran out while the disk stays full: what waits for it cannot be written.
  if (aborting_ && backup_stalled_ && backup_ != nullptr) backup_->AbandonStall();
  switch (phase_) {
    case Phase::kRunning:
      if (!finish_requested_.load() && !aborting_) return;
      queue_.Close();
      phase_ = Phase::kDraining;
      [[fallthrough]];
    case Phase::kDraining:
      // Even when aborting: every message Send() accepted reaches the backup first.
      if (queue_.size() > 0 || batch_next_ < batch_size_) return;
      if (ingestion_ != nullptr) {
        ingestion_->Shutdown();  // Ends the last checkpoint (and the backup's, with it).
      } else if (backup_ != nullptr) {
        // Backups only: the one checkpoint is kept whole, and the report says so.
        const uint64_t checkpoint = backup_->metrics().current_checkpoint;
        outcomes_.Ended(checkpoint, moved_);
        outcomes_.NeedsReingestion(checkpoint);
        outcomes_.Complete(checkpoint, 0);
        backup_->EndCheckpoint(checkpoint);
      }
      phase_ = Phase::kEndingLive;
      [[fallthrough]];
    case Phase::kEndingLive:
      if (ingestion_ != nullptr && !ingestion_->quiescent()) return;
      phase_ = Phase::kReingesting;
      [[fallthrough]];
    case Phase::kReingesting: {
      const bool reingest_done = reingestion_ == nullptr ||
                                 (reingestion_->idle() && recovery_next_ == recovery_files_.size());
      const bool backup_done = backup_ == nullptr || backup_->idle();
      if (!aborting_ && (!reingest_done || !backup_done || bus_.pending() > 0)) return;
      ControlMessage shutdown;
      shutdown.kind = ControlKind::kShutdown;
      bus_.Publish(std::move(shutdown));
      phase_ = Phase::kStopping;
      return;
    }
    case Phase::kStopping:
      if (!TasksQuiescent()) return;
      verdict_ = Verdict();
      report_ = BuildReport();
      phase_ = Phase::kStopped;
      return;
    case Phase::kStopped:
      return;
  }
}

}  // namespace sift_stream::engine
