#include "engine/backup_manager.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/backup_dir.h"

namespace sift_stream::engine {
namespace {

// How long one ring turn of the destructor's drain may wait.
constexpr absl::Duration kDrainTurn = absl::Milliseconds(100);

absl::Status CheckArguments(const DiskBackupPolicy& policy, absl::string_view stream_id,
                            const BackupManagerOptions& options) {
  auto invalid = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("backup manager: ", what));
  };
  if (policy.backup_dir.empty()) return invalid("backup_dir is empty: name a directory");
  if (stream_id.empty() || stream_id.find('/') != absl::string_view::npos ||
      stream_id == "." || stream_id == "..") {
    return invalid(absl::StrCat("stream id \"", stream_id,
                                "\" cannot start a file name: use e.g. a random hex id"));
  }
  if (policy.max_file_size_bytes == 0) return invalid("max_file_size_bytes must be at least 1");
  if (policy.max_file_count < 1) return invalid("max_file_count must be at least 1");
  if (options.chunk_target_bytes == 0) return invalid("chunk_target_bytes must be at least 1");
  if (policy.sync.kind == SyncPolicy::Kind::kInterval && policy.sync.interval <= absl::ZeroDuration()) {
    return invalid("SyncPolicy::Every needs a positive interval");
  }
  if (policy.sync.kind == SyncPolicy::Kind::kBytes && policy.sync.bytes == 0) {
    return invalid("SyncPolicy::EveryBytes needs at least 1 byte");
  }
  if (options.file.buffer_count < 2 || options.file.buffer_size_bytes == 0) {
    return invalid("backup files need at least 2 buffers of at least 1 byte");
  }
  return absl::OkStatus();
}

// A lock the caller holds is shared, not taken again: a dup of its descriptor keeps the same
// flock for as long as either is open, with no moment in which another process could take it.
absl::StatusOr<int> ShareHeldLock(int held_lock_fd, const std::string& dir) {
  const int fd = fcntl(held_lock_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return io::ErrnoToStatus(errno, "share the lock of backup directory", dir);
  return fd;
}

BackupManagerOptions WithPool(BackupManagerOptions options, io::AppendBufferPool* pool) {
  options.file.pool = pool;
  return options;
}

}  // namespace

const char* BackupStateName(BackupManager::State state) {
  switch (state) {
    case BackupManager::State::kIdle:
      return "Idle";
    case BackupManager::State::kWriting:
      return "Writing";
    case BackupManager::State::kClosing:
      return "Closing";
    case BackupManager::State::kShutDown:
      return "ShutDown";
    case BackupManager::State::kFailed:
      return "Failed";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<BackupManager>> BackupManager::Create(
    io::Ring& ring, ControlBus& bus, DiskBackupPolicy policy, std::string stream_id,
    BackupManagerOptions options) {
  if (absl::Status s = CheckArguments(policy, stream_id, options); !s.ok()) return s;
  policy.backup_dir = WithoutTrailingSlashes(std::move(policy.backup_dir));
  absl::StatusOr<int> dir_fd =
      OpenBackupDir(policy.backup_dir, absl::StrCat(".", stream_id, ".probe"));
  if (!dir_fd.ok()) return dir_fd.status();
  absl::StatusOr<int> lock_fd = options.held_lock_fd >= 0
                                    ? ShareHeldLock(options.held_lock_fd, policy.backup_dir)
                                    : LockBackupDir(*dir_fd, policy.backup_dir);
  if (!lock_fd.ok()) {
    close(*dir_fd);
    return lock_fd.status();
  }
  std::unique_ptr<BackupManager> manager(new BackupManager(
      ring, bus, std::move(policy), std::move(stream_id), std::move(options), *dir_fd));
  manager->lock_fd_ = *lock_fd;
  bus.Subscribe([self = manager->self_](const ControlMessage& message) {
    if (*self != nullptr) (*self)->OnControl(message);
  });
  return manager;
}

BackupManager::BackupManager(io::Ring& ring, ControlBus& bus, DiskBackupPolicy policy,
                             std::string stream_id, BackupManagerOptions options, int dir_fd)
    : ring_(ring),
      bus_(bus),
      policy_(std::move(policy)),
      stream_id_(std::move(stream_id)),
      buffer_pool_(2 * static_cast<size_t>(options.file.buffer_count)),
      options_(WithPool(std::move(options), &buffer_pool_)),
      dir_fd_(dir_fd),
      self_(std::make_shared<BackupManager*>(this)) {}

BackupManager::~BackupManager() {
  destroying_ = true;
  *self_ = nullptr;
  // The kernel holds pointers to our Completions (and their paths) until they complete.
  while (dir_sync_.in_flight() || unlink_.in_flight() || create_retry_.in_flight()) {
    if (!ring_.RunOnce(kDrainTurn).ok()) std::abort();
  }
  file_.reset();  // AppendFile waits for its own writes.
  retired_.reset();
  close(dir_fd_);
  close(lock_fd_);  // Releases the directory for the next stream.
}

absl::Status BackupManager::Append(absl::string_view serialized_message) {
  if (state_ == State::kFailed) return status_;
  if (state_ == State::kShutDown || shutdown_requested_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backup manager of stream ", stream_id_, " is shut down: the message was not backed up"));
  }
  if (!accepting()) {
    return absl::UnavailableError(absl::StrCat(
        "backup manager of stream ", stream_id_,
        ": a sealed chunk waits for write buffers or for the previous file to close; retry "
        "after the next ring completion"));
  }
  const bool first = encoder_.empty();
  if (absl::Status s = encoder_.Add(serialized_message); !s.ok()) return s;
  ++appended_;
  if (first) chunk_checkpoint_ = ledger_.open();
  CountBytesTowardsSync(serialized_message.size());
  if (encoder_.size_bytes() >= options_.chunk_target_bytes || sync_requested_) {
    SealChunk();
    Step();
  }
  return absl::OkStatus();
}

bool BackupManager::accepting() const {
  const bool open = state_ == State::kIdle || state_ == State::kWriting ||
                    state_ == State::kClosing;
  return open && !pending_ && !shutdown_requested_;
}

void BackupManager::EndCheckpoint(uint64_t checkpoint) {
  if (state_ == State::kFailed) return;  // Files stay as they are, for recovery.
  if (absl::Status s = ledger_.End(checkpoint); !s.ok()) {
    Signal(ControlKind::kErrorSignal, checkpoint, std::move(s));
  }
  AfterLedgerChange();
}

bool BackupManager::idle() const {
  // A failed manager waits for nothing but the writes it already started.
  const bool work_waiting = state_ != State::kFailed && (state_ == State::kClosing || pending_ ||
                                                         ledger_.end_pending());
  if (work_waiting || (file_ != nullptr && file_->writing())) return false;
  if (create_retry_.in_flight() || !create_stall_.ok()) return false;
  return !dir_sync_.in_flight() && !unlink_.in_flight() && unlink_queue_.empty();
}

BackupMetrics BackupManager::metrics() const {
  BackupMetrics metrics = metrics_;
  metrics.current_checkpoint = ledger_.open();
  metrics.files_in_current_checkpoint = ledger_.end_pending() ? 0 : files_.size();
  metrics.checkpoints_waiting = ledger_.waiting();
  return metrics;
}

void BackupManager::Step() {
  if (destroying_) return;
  if (!async_error_.ok() && state_ != State::kFailed) {
    state_ = Fail(std::exchange(async_error_, absl::OkStatus()));
  }
  for (;;) {
    std::optional<State> next;
    switch (state_) {
      case State::kIdle:
        next = StepIdle();
        break;
      case State::kWriting:
        next = StepWriting();
        break;
      case State::kClosing:
        next = StepClosing();
        break;
      case State::kShutDown:
        next = StepShutDown();
        break;
      case State::kFailed:
        next = StepFailed();
        break;
      default:
        std::abort();  // Not a State: memory corruption, not something to carry on from.
    }
    if (!next.has_value()) break;
    state_ = *next;
  }
  UpdateDurable();
}

std::optional<BackupManager::State> BackupManager::StepIdle() {
  if (!pending_ && !encoder_.empty() && must_seal()) SealChunk();
  if (pending_is_current()) {
    if (create_retry_.in_flight()) return std::nullopt;  // The disk was full: wait for it.
    return OpenNextFile();
  }
  if (ledger_.end_pending()) {
    // The ended checkpoint's last file is closed (or it had none). A sealed chunk of a later
    // checkpoint waits for its own checkpoint's first file.
    FinishWriting();
    return State::kIdle;
  }
  sync_requested_ = false;  // Nothing written is unsynced: files are synced before closing.
  if (shutdown_requested_) return State::kShutDown;
  return std::nullopt;
}

std::optional<BackupManager::State> BackupManager::StepWriting() {
  if (!file_->status().ok()) return Fail(file_->status());
  if (pending_is_current()) {
    if (absl::Status s = WritePending(); !s.ok()) return Fail(std::move(s));
    if (pending_) return std::nullopt;  // The file's next completed write frees a buffer.
  }
  // Rotation comes between chunks only, so every file ends exactly at a chunk boundary.
  if (file_->logical_size() >= policy_.max_file_size_bytes) {
    closing_full_file_ = true;
    return BeginClose();
  }
  // The file's checkpoint has ended and its last chunk is in: whatever was appended since
  // belongs to the next checkpoint's files.
  if (ledger_.end_pending()) {
    closing_full_file_ = false;
    return BeginClose();
  }
  if (must_seal() && !encoder_.empty()) {
    SealChunk();
    return State::kWriting;
  }
  if (shutdown_requested_) {
    closing_full_file_ = false;
    return BeginClose();
  }
  if (sync_requested_) {
    sync_requested_ = false;
    if (policy_.sync.kind == SyncPolicy::Kind::kNever) {
      file_->Flush();
    } else {
      file_->Sync();
    }
  }
  return std::nullopt;
}

std::optional<BackupManager::State> BackupManager::StepClosing() {
  if (!file_->status().ok()) return Fail(file_->status());
  if (!file_->idle()) return std::nullopt;
  absl::Status closed = file_->Close();
  retired_ = std::move(file_);
  if (!closed.ok()) return Fail(std::move(closed));
  closed_serial_ = file_serial_;
  if (closing_full_file_) {
    ++metrics_.rotations;
    // Only a checkpoint still taking messages can be asked to end.
    if (!ledger_.end_pending() && !full_signaled_ &&
        files_.size() >= static_cast<size_t>(policy_.max_file_count)) {
      full_signaled_ = true;
      ++metrics_.backup_full_signals;
      Signal(ControlKind::kBackupFull, ledger_.writing());
    }
  }
  return State::kIdle;
}

std::optional<BackupManager::State> BackupManager::StepShutDown() {
  // The last file is closed already; only ends drawn since are left to record.
  while (ledger_.end_pending()) FinishWriting();
  return std::nullopt;
}

std::optional<BackupManager::State> BackupManager::StepFailed() {
  // Close the failed file once the kernel is done with its buffers. Close() does not cut a
  // failed file: its tail stays as a crash would leave it, for the reader to classify.
  if (file_ != nullptr && file_->idle()) {
    (void)file_->Close();
    retired_ = std::move(file_);
  }
  return std::nullopt;
}

void BackupManager::SealChunk() {
  sealed_through_ = appended_;
  sealed_ = encoder_.Seal();
  sealed_offset_ = 0;
  pending_ = true;
}

absl::Status BackupManager::WritePending() {
  // A chunk need not enter the file in one piece: the file is a byte stream, and taking what
  // fits keeps every buffer busy and lets a chunk larger than all the buffers through.
  const size_t n = std::min(file_->free_bytes(), sealed_.size() - sealed_offset_);
  if (n > 0) {
    absl::Status s = file_->Append(sealed_.substr(sealed_offset_, n));
    // Unavailable cannot happen (n <= free_bytes()); if it did, waiting would still be right.
    if (absl::IsUnavailable(s)) return absl::OkStatus();
    if (!s.ok()) return s;
    sealed_offset_ += n;
  }
  if (sealed_offset_ < sealed_.size()) return absl::OkStatus();
  metrics_.messages_backed_up += encoder_.message_count();
  metrics_.bytes_backed_up += sealed_.size();
  unsynced_.push_back({file_serial_, file_->logical_size(), sealed_through_});
  encoder_.Reset();
  sealed_ = absl::string_view();
  sealed_offset_ = 0;
  pending_ = false;
  return absl::OkStatus();
}

std::optional<BackupManager::State> BackupManager::OpenNextFile() {
  std::string path = absl::StrFormat("%s/%s-%06d-%04d.pbfs", policy_.backup_dir, stream_id_,
                                     ledger_.writing(), files_.size() + 1);
  absl::StatusOr<std::unique_ptr<io::AppendFile>> file =
      io::AppendFile::Create(ring_, path, options_.file, [this] { OnFileProgress(); });
  if (absl::IsResourceExhausted(file.status())) {
    // The disk is full: nothing was created; try again after a backoff, dropping nothing.
    create_stall_ = absl::ResourceExhaustedError(absl::StrCat(
        file.status().message(), ": the disk is full; retrying until space comes back"));
    if (!create_retry_.in_flight()) {
      ring_.Timeout(create_retry_, create_backoff_,
                    io::Bind<BackupManager, &BackupManager::OnCreateRetry>(this));
      create_backoff_ = std::min(create_backoff_ * 2, absl::Seconds(1));
    }
    return std::nullopt;
  }
  if (!file.ok()) return Fail(file.status());  // Names the path.
  create_stall_ = absl::OkStatus();
  create_backoff_ = absl::Milliseconds(10);
  file_ = std::move(*file);
  files_.push_back(std::move(path));
  ++metrics_.files_created;
  file_serial_ = metrics_.files_created;
  file_counted_buffered_ = false;
  NoteBufferedIo();
  RequestDirSync();  // The file's entry is dir_entries_created_ == file_serial_.
  return State::kWriting;
}

BackupManager::State BackupManager::BeginClose() {
  // Synced before closing: a closed file is never written again, so this is its one chance,
  // and it is what lets synced() vouch for every file but the current one. kNever only writes.
  if (policy_.sync.kind == SyncPolicy::Kind::kNever) {
    file_->Flush();
  } else {
    file_->Sync();
  }
  return State::kClosing;
}

void BackupManager::FinishWriting() {
  ledger_.FinishWriting(std::move(files_));
  files_.clear();
  full_signaled_ = false;
  DisposeResolved();
}

void BackupManager::DisposeResolved() {
  while (std::optional<CheckpointDisposal> resolved = ledger_.TakeDisposal()) {
    ++metrics_.checkpoints_completed;
    if (resolved->files.empty()) continue;
    if (resolved->reingest) {
      ++metrics_.checkpoints_reingested;
      ControlMessage message;
      message.kind = ControlKind::kReingestBackups;
      message.checkpoint = resolved->checkpoint;
      message.backup_files = std::move(resolved->files);  // The re-ingestion task deletes them.
      if (auto only = only_messages_.find(resolved->checkpoint); only != only_messages_.end()) {
        message.only_messages = std::move(only->second);
        only_messages_.erase(only);
      }
      bus_.Publish(std::move(message));
    } else if (!policy_.retain_backups) {
      for (const std::string& path : resolved->files) {
        unlink_queue_.push_back(path.substr(policy_.backup_dir.size() + 1));
      }
    } else {
      for (const std::string& path : resolved->files) MarkAcknowledged(path);
    }
  }
  StartNextUnlink();
}

void BackupManager::OnControl(const ControlMessage& message) {
  if (state_ == State::kFailed) return;  // Files stay as they are, for recovery.
  absl::Status error;
  switch (message.kind) {
    case ControlKind::kCheckpointComplete:
      error = ledger_.Complete(message.checkpoint);
      break;
    case ControlKind::kCheckpointNeedsReingestion:
      error = ledger_.NeedsReingestion(message.checkpoint);
      if (error.ok() && !message.only_messages.empty()) {
        only_messages_[message.checkpoint] = message.only_messages;
      }
      break;
    case ControlKind::kShutdown:
      shutdown_requested_ = true;
      break;
    case ControlKind::kBackupFull:
    case ControlKind::kReingestBackups:
    case ControlKind::kErrorSignal:
      return;  // For the other tasks (and partly our own).
  }
  if (!error.ok()) Signal(ControlKind::kErrorSignal, message.checkpoint, std::move(error));
  AfterLedgerChange();
}

void BackupManager::AfterLedgerChange() {
  // The boundary is here: if the open chunk's checkpoint just ended, no later message may
  // join it.
  if (!pending_ && !encoder_.empty() && chunk_checkpoint_ < ledger_.open()) SealChunk();
  Step();
  DisposeResolved();
}

absl::Status BackupManager::stall() const {
  if (!create_stall_.ok()) return create_stall_;
  if (file_ != nullptr) return file_->stall();
  return absl::OkStatus();
}

void BackupManager::AbandonStall() {
  if (!create_stall_.ok()) {
    absl::Status stall = std::exchange(create_stall_, absl::OkStatus());
    state_ = Fail(std::move(stall));
  }
  if (file_ != nullptr) file_->AbandonStall();
  Step();
}

void BackupManager::OnCreateRetry(io::Completion&) {
  if (destroying_ || state_ == State::kFailed) return;
  Step();
}

void BackupManager::OnFileProgress() {
  if (destroying_) return;
  NoteBufferedIo();
  Step();
}

void BackupManager::NoteBufferedIo() {
  if (file_ == nullptr || file_->direct_io() || file_counted_buffered_) return;
  file_counted_buffered_ = true;
  if (metrics_.files_buffered++ == 0) {
    LOG(WARNING) << "sift_stream: backup directory " << policy_.backup_dir
                 << " refuses O_DIRECT (e.g. ramfs or an overlay); backup files use buffered "
                    "writes through the page cache instead";
  }
}

// Once per retained file, so a plain system call: an empty file, mode 0600. A marker lost to a
// crash only means the file is sent again by recovery (duplicates, never loss).
void BackupManager::MarkAcknowledged(const std::string& path) {
  if (absl::Status marked = WriteAckMarker(path); !marked.ok()) {
    Signal(ControlKind::kErrorSignal, ledger_.open(), std::move(marked));
  }
}

void BackupManager::StartNextUnlink() {
  if (destroying_ || unlink_.in_flight() || unlink_queue_.empty()) return;
  ring_.UnlinkAt(unlink_, dir_fd_, unlink_queue_.front().c_str(), 0,
                 io::Bind<BackupManager, &BackupManager::OnUnlinked>(this));
}

void BackupManager::OnUnlinked(io::Completion& completion) {
  if (completion.result < 0) {
    // The data is safe in Sift; a leftover file only costs disk space, so writing goes on.
    ++metrics_.delete_errors;
    const std::string path = absl::StrCat(policy_.backup_dir, "/", unlink_queue_.front());
    if (completion.result != -ENOENT) undeleted_files_.push_back(path);  // Gone is deleted.
    Signal(ControlKind::kErrorSignal, ledger_.open(),
           io::ErrnoToStatus(-completion.result, "delete backup file", path));
  } else {
    ++metrics_.files_deleted;
  }
  unlink_queue_.pop_front();
  StartNextUnlink();
}

BackupManager::State BackupManager::Fail(absl::Status status) {
  if (status_.ok()) {
    status_ = std::move(status);
    Signal(ControlKind::kErrorSignal, ledger_.writing(), status_);
  }
  return State::kFailed;
}

void BackupManager::Signal(ControlKind kind, uint64_t checkpoint, absl::Status error) {
  ControlMessage message;
  message.kind = kind;
  message.checkpoint = checkpoint;
  message.error = std::move(error);
  bus_.Publish(std::move(message));
}

}  // namespace sift_stream::engine
