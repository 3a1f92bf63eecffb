// The reactor's side of SiftStream::Flush and of SyncPolicy: producers queue flush requests,
// the reactor answers them once what they cover is durable on disk or acknowledged by Sift.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/reactor.h"

namespace sift_stream::engine {

absl::Status Reactor::Flush(absl::Duration timeout) {
  FlushRequest request;
  request.target = queue_.pushed();
  std::unique_lock<std::mutex> lock(flush_mu_);
  if (flushes_closed_) {  // The reactor stopped: nobody would serve the request.
    if (confirmed_at_stop_ >= request.target) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "the stream stopped with ", request.target - confirmed_at_stop_,
        " messages sent before Flush unconfirmed; Finish's result says what is kept"));
  }
  flushes_.push_back(&request);
  flushes_waiting_.fetch_add(1, std::memory_order_release);
  wakeup_->Notify();
  const bool done = flush_cv_.wait_for(lock, ChronoTimeout(timeout),
                                       [&] { return request.done; });
  flushes_.erase(std::find(flushes_.begin(), flushes_.end(), &request));
  flushes_waiting_.fetch_sub(1, std::memory_order_release);
  if (done) return request.result;
  return absl::DeadlineExceededError(absl::StrCat(
      "Flush gave up after ", absl::FormatDuration(timeout), ": the ", request.target,
      " messages sent before it are not all confirmed yet (the backup disk or Sift is slow)"));
}

// Every turn while a Flush() waits, and once more when the reactor stops (then every request
// gets its answer).
void Reactor::ServeFlushes(bool stopped) {
  if (stopped) {
    std::lock_guard<std::mutex> lock(flush_mu_);
    flushes_closed_ = true;
    if (backup_ != nullptr) {
      confirmed_at_stop_ = backup_->durable_messages();
    } else if (memory_ != nullptr) {
      if (MemoryMessagesLost() == 0 && memory_->accounts().messages_held() == 0) {
        confirmed_at_stop_ = moved_;  // Every message Sift was given, it acknowledged.
      }
    } else if (first_failed_checkpoint_ == 0) {
      confirmed_at_stop_ = moved_;  // Live-only, and every checkpoint was acknowledged.
    }
  }
  if (flushes_waiting_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(flush_mu_);
  bool answered = false;
  for (FlushRequest* request : flushes_) {
    if (request->done) continue;
    std::optional<absl::Status> result =
        backup_ != nullptr   ? FlushToDisk(*request, stopped)
        : memory_ != nullptr ? FlushFromMemory(*request, stopped)
                             : FlushToSift(*request, stopped);
    if (!result.has_value()) continue;
    request->done = true;
    request->result = *std::move(result);
    answered = true;
  }
  if (!answered) return;
  PublishMetrics();  // So that Metrics() after Flush() shows what Flush confirmed.
  flush_cv_.notify_all();
}

// With backups, a message is confirmed once it is durable on disk: appended messages become
// durable in order (BackupManager::durable_messages), and one Sync() covers all appended so far.
std::optional<absl::Status> Reactor::FlushToDisk(FlushRequest& request, bool stopped) {
  if (backup_->durable_messages() >= request.target) return absl::OkStatus();
  if (!backup_failure_.ok() || !backup_->status().ok()) {
    const absl::Status& failure = backup_failure_.ok() ? backup_->status() : backup_failure_;
    return absl::DataLossError(absl::StrCat(
        "Flush cannot confirm: the backup disk failed (", failure.message(), ") with ",
        request.target - backup_->durable_messages(), " of the ", request.target,
        " messages sent before Flush not yet durable"));
  }
  if (stopped) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the stream stopped with ", request.target - backup_->durable_messages(),
        " messages sent before Flush not durable; Finish's result says what is unconfirmed"));
  }
  if (backup_->messages_appended() >= request.target &&
      sync_issued_through_ < request.target) {
    sync_issued_through_ = backup_->messages_appended();
    backup_->Sync();
  }
  return std::nullopt;
}

// Live-only: nothing is on disk, so a message is confirmed once Sift acknowledged its
// checkpoint; the request ends the open checkpoint once its messages are all in it.
std::optional<absl::Status> Reactor::FlushToSift(FlushRequest& request, bool stopped) {
  if (request.live_checkpoint == 0) {
    if (moved_ < request.target && !stopped) return std::nullopt;
    request.live_checkpoint = ingestion_->current_checkpoint();
    if (phase_ == Phase::kRunning && !aborting_) ingestion_->EndCheckpoint();
  }
  if (first_failed_checkpoint_ != 0 && first_failed_checkpoint_ <= request.live_checkpoint) {
    return absl::DataLossError(absl::StrCat(
        "Sift did not acknowledge checkpoint ", first_failed_checkpoint_,
        " and live-only mode keeps no backups: messages sent before Flush may be lost"));
  }
  if (live_resolved_through_ >= request.live_checkpoint) return absl::OkStatus();
  if (stopped) {
    return absl::FailedPreconditionError(
        "the stream stopped before Sift acknowledged the messages sent before Flush");
  }
  return std::nullopt;
}

// Data that became unsynced is synced within one interval; an idle stream costs nothing.
absl::Duration Reactor::SyncOnInterval() {
  if (backup_ == nullptr || config_.backups.sync.kind != SyncPolicy::Kind::kInterval) {
    return absl::InfiniteDuration();
  }
  if (backup_->durable_messages() == backup_->messages_appended()) {
    next_interval_sync_ = absl::InfiniteFuture();  // Nothing to sync: nothing scheduled.
    return absl::InfiniteDuration();
  }
  const absl::Time now = absl::Now();
  if (next_interval_sync_ == absl::InfiniteFuture()) {
    next_interval_sync_ = now + config_.backups.sync.interval;
  }
  if (now < next_interval_sync_) return next_interval_sync_ - now;
  backup_->Sync();
  next_interval_sync_ = now + config_.backups.sync.interval;
  return config_.backups.sync.interval;
}

}  // namespace sift_stream::engine
