// BackupManager's durability half: what Sync() and the sync policy make durable, and when a
// message counts as durable (data synced and its file's directory entry synced). Split from
// backup_manager.cc, which writes, rotates and disposes of the files.

#include "engine/backup_manager.h"
#include "io/ring.h"

namespace sift_stream::engine {

const char* SyncPolicyName(SyncPolicy::Kind kind) {
  switch (kind) {
    case SyncPolicy::Kind::kOnFlush:
      return "on_flush";
    case SyncPolicy::Kind::kInterval:
      return "interval";
    case SyncPolicy::Kind::kBytes:
      return "bytes";
    case SyncPolicy::Kind::kNever:
      return "never";
  }
  return "?";
}

void BackupManager::Sync() {
  if (state_ == State::kFailed || state_ == State::kShutDown) return;
  sync_requested_ = true;
  Step();
}

bool BackupManager::synced() const {
  if (!status_.ok() || pending_ || !encoder_.empty() || sync_requested_ ||
      state_ == State::kClosing) {
    return false;
  }
  if (policy_.sync.kind == SyncPolicy::Kind::kNever) {
    return file_ == nullptr || (file_->idle() && file_->written_size() == file_->logical_size());
  }
  if (dir_entries_synced_ < dir_entries_created_) return false;
  return file_ == nullptr || (file_->idle() && file_->synced_size() == file_->logical_size());
}

void BackupManager::UpdateDurable() {
  // A failed file's sizes may not be trusted to vouch for anything more.
  if (!status_.ok() || (file_ != nullptr && !file_->status().ok())) return;
  const bool never = policy_.sync.kind == SyncPolicy::Kind::kNever;
  while (!unsynced_.empty()) {
    const HandedChunk& chunk = unsynced_.front();
    bool data = chunk.file_serial <= closed_serial_;
    if (!data && file_ != nullptr && chunk.file_serial == file_serial_) {
      data = (never ? file_->written_size() : file_->synced_size()) >= chunk.end_offset;
    }
    const bool entry = never || dir_entries_synced_ >= chunk.file_serial;
    if (!data || !entry) return;
    durable_ = chunk.messages_through;
    unsynced_.pop_front();
  }
}

void BackupManager::CountBytesTowardsSync(uint64_t bytes) {
  if (policy_.sync.kind != SyncPolicy::Kind::kBytes) return;
  bytes_since_sync_ += bytes;
  if (bytes_since_sync_ < policy_.sync.bytes) return;
  bytes_since_sync_ = 0;
  sync_requested_ = true;
}

void BackupManager::RequestDirSync() {
  ++dir_entries_created_;
  StartDirSync();
}

void BackupManager::StartDirSync() {
  // One fsync covers every entry created before it starts; OnDirSynced starts the next.
  if (destroying_ || dir_sync_.in_flight() || dir_entries_synced_ == dir_entries_created_) {
    return;
  }
  dir_sync_target_ = dir_entries_created_;
  ring_.Fsync(dir_sync_, dir_fd_, io::SyncKind::kFull,
              io::Bind<BackupManager, &BackupManager::OnDirSynced>(this));
}

void BackupManager::OnDirSynced(io::Completion& completion) {
  if (completion.result < 0) {
    if (async_error_.ok()) {
      async_error_ =
          io::ErrnoToStatus(-completion.result, "fsync backup directory", policy_.backup_dir);
    }
    Step();
    return;
  }
  dir_entries_synced_ = dir_sync_target_;
  UpdateDurable();
  StartDirSync();
}

}  // namespace sift_stream::engine
