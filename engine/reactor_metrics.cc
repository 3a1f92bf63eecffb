// The reactor's metrics: copied from the tasks on the reactor thread, read under one short
// lock by any thread (SiftStream::Metrics, the /metrics and /status pages).

#include <time.h>

#include "engine/reactor.h"

namespace sift_stream::engine {
namespace {

// CPU time of the calling thread; the reactor reports its own so that benchmarks can split
// a process's CPU between producers and the reactor.
uint64_t ThreadCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace

void Reactor::PublishMetrics() {
  metrics_published_ = absl::Now();
  std::lock_guard<std::mutex> lock(metrics_mu_);
  SiftStreamMetrics& m = metrics_;
  if (ingestion_ != nullptr) {
    const IngestionMetrics& live = ingestion_->metrics();
    m.messages_written_live = live.messages_written;
    m.messages_acknowledged = live.messages_acknowledged;
    m.messages_dropped_live = live.dropped_live;
    m.checkpoints_ok = live.checkpoints_ok;
    m.checkpoints_failed = live.checkpoints_failed;
    m.last_checkpoint_duration = live.last_checkpoint_duration;
    m.live_streams_failed = live.streams_failed;
    m.ack_timeouts = live.ack_timeouts;
    m.retries = live.retries;
    m.current_backoff = live.current_backoff;
    m.live_queue_depth = ingestion_->live_depth();
    if (ingestion_->checkpoints_recorded() != checkpoints_copied_) {
      checkpoints_copied_ = ingestion_->checkpoints_recorded();
      checkpoints_.assign(ingestion_->recent_checkpoints().begin(),
                          ingestion_->recent_checkpoints().end());
    }
  }
  if (backup_ != nullptr) {
    const BackupMetrics backup = backup_->metrics();
    m.messages_backed_up = backup.messages_backed_up;
    m.bytes_backed_up = backup.bytes_backed_up;
    m.backup_files_created = backup.files_created;
    m.backup_files_deleted = backup.files_deleted;
    m.backup_rotations = backup.rotations;
    m.messages_durable = backup_->durable_messages();
    m.backup_files_buffered = backup.files_buffered;
    m.backup_disk_full = backup_stalled_;
    m.backup_disk_full_stalls = backup_stalls_;
  }
  if (memory_ != nullptr) {
    const MemoryBackupMetrics memory = memory_->metrics();
    m.messages_backed_up = memory.messages_backed_up;
    m.bytes_backed_up = memory.bytes_backed_up;
    m.memory_backup_bytes = memory.bytes_held;
    m.memory_backup_messages = memory.messages_held;
    m.memory_backup_full = memory_stalled_;
    m.memory_backup_full_stalls = memory_full_stalls_;
    m.memory_backup_messages_lost = MemoryMessagesLost();
  }
  if (reingestion_ != nullptr) {
    const ReingestionMetrics& re = reingestion_->metrics();
    m.messages_reingested = re.messages_reingested;
    m.backup_files_recovered = re.files_recovered;
    m.messages_recovered = re.messages_recovered;
    m.recovery_files_found = recovery_files_.size();
    m.reingest_jobs_done = re.jobs_done;
    m.reingest_jobs_failed = re.jobs_failed;
    m.reingest_jobs_pending = reingestion_->idle() ? 0 : re.pending_jobs + 1;
  }
  m.send_queue_depth = queue_.size() + (batch_size_ - batch_next_);
  m.errors = error_signals_;
  m.last_error = last_error_;
  m.reactor_cpu_ns = ThreadCpuNs();  // PublishMetrics runs on the reactor thread only.
}

SiftStreamMetrics Reactor::Metrics() const {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  return metrics_;
}

std::vector<CheckpointOutcome> Reactor::RecentCheckpoints() const {
  std::lock_guard<std::mutex> lock(metrics_mu_);
  return checkpoints_;
}

}  // namespace sift_stream::engine
