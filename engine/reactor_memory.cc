// The reactor's part in memory backups (StreamMode::kLiveWithMemoryBackups; the ring itself is
// engine/memory_backup.h): moving messages into the ring, telling producers when it is full,
// answering Flush, and Finish's verdict. Kept apart from reactor.cc, which is about disk.

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "engine/reactor.h"

namespace sift_stream::engine {

void Reactor::BuildMemoryBackup() {
  memory_ = std::make_unique<MemoryBackup>(bus_, config_.memory);
  memory_full_error_ = absl::StrCat(
      "the memory backup is full (its ", config_.memory.max_bytes,
      " bytes, MemoryBackupPolicy.max_bytes, hold messages Sift has not acknowledged yet; "
      "nothing is on disk): retry once Sift acknowledges them");
}

bool Reactor::MoveToMemory(const std::string& message) {
  absl::Status appended = memory_->Append(message);
  if (appended.ok()) return true;
  if (absl::IsResourceExhausted(appended)) {
    if (!aborting_) return false;  // Room comes back as Sift acknowledges checkpoints.
    // The deadline ran out: the message can no longer be protected, and no room will come.
    ++memory_dropped_at_abort_;
    return true;
  }
  // Cannot happen while the queue feeds the ring (shutdown comes after the queue is drained,
  // and MaxMessageBytes keeps messages framable); if it does, the message is unprotected.
  LOG(ERROR) << "sift_stream: memory backup refused a message: " << appended.message();
  ++memory_dropped_at_abort_;
  return true;
}

bool Reactor::MemoryHasRoom() const {
  if (memory_->state() != MemoryBackup::State::kFull) return true;
  return batch_next_ < batch_size_ && memory_->HasRoomFor(batch_[batch_next_].size());
}

void Reactor::WatchMemory() {
  if (memory_ == nullptr) return;
  const bool full = memory_->state() == MemoryBackup::State::kFull && !aborting_;
  if (full == memory_stalled_) return;
  memory_stalled_ = full;
  // A ring hovering at full may fill and drain many times a second.
  LOG_EVERY_T(WARNING, 10) << "sift_stream: "
                           << (full ? memory_full_error_
                                    : std::string("the memory backup has room again"));
  if (full) {
    ++memory_full_stalls_;
    last_error_ = memory_full_error_;
  }
  // Publish before Send can name the reason, so a caller who reads it sees the metric too.
  PublishMetrics();
  memory_full_.store(full, std::memory_order_release);
  queue_.SetFullReason(full ? memory_full_error_ : "");
}

// Nothing is durable: a message is confirmed once Sift acknowledged it, on its live checkpoint
// or on re-ingestion. As in live-only mode, the request ends the open checkpoint once its
// messages are all in it.
std::optional<absl::Status> Reactor::FlushFromMemory(FlushRequest& request, bool stopped) {
  if (request.live_checkpoint == 0) {
    if (moved_ < request.target && !stopped) return std::nullopt;
    request.live_checkpoint = ingestion_->current_checkpoint();
    if (phase_ == Phase::kRunning && !aborting_) ingestion_->EndCheckpoint();
  }
  const uint64_t lost_from = memory_->accounts().first_lost_checkpoint();
  if (lost_from != 0 && lost_from <= request.live_checkpoint) {
    return absl::DataLossError(absl::StrCat(
        "re-ingestion gave up on checkpoint ", lost_from,
        " and memory backups keep nothing after that: messages sent before Flush are lost"));
  }
  const uint64_t oldest = memory_->oldest_held_checkpoint();
  if (live_resolved_through_ >= request.live_checkpoint &&
      (oldest == 0 || oldest > request.live_checkpoint)) {
    return absl::OkStatus();
  }
  if (stopped) {
    return absl::FailedPreconditionError(
        "the stream stopped before Sift acknowledged the messages sent before Flush");
  }
  return std::nullopt;
}

uint64_t Reactor::MemoryMessagesLost() const {
  return memory_->accounts().messages_lost() + memory_dropped_at_abort_ + memory_held_at_stop_;
}

// Called once the tasks are quiescent: re-ingestion holds no chunk any more, so what the ring
// still holds was never acknowledged and dies with the stream.
absl::Status Reactor::MemoryVerdict() {
  const uint64_t held = memory_->accounts().messages_held();
  const uint64_t gave_up = memory_->accounts().messages_lost();
  memory_held_at_stop_ = held;  // Metrics() counts them lost from now on.
  const uint64_t lost = MemoryMessagesLost();
  if (lost == 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      lost, " message(s) accepted by Send were not acknowledged by Sift and are lost: memory "
      "backups do not outlive the stream (", held, " still held at the end, ", gave_up,
      " given up by re-ingestion, ", memory_dropped_at_abort_,
      " not taken into memory before the deadline ran out)"));
}

}  // namespace sift_stream::engine
