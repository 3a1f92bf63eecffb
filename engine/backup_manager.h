// engine/backup_manager.h — writes every message to PBFS backup files, one set per checkpoint.
//
// The backup manager is one of the reactor's three tasks (docs/architecture.md). Every message
// the user sends is appended here as well as to the live gRPC stream, so that nothing is lost
// if Sift never acknowledges it. Messages are framed into PBFS chunks (io/pbfs_encoder.h) and
// written through io::AppendFile (O_DIRECT, mode 0600) to
//
//   <backup_dir>/<stream_id>-<checkpoint, 6 digits>-<file in the checkpoint, 4 digits>.pbfs
//
// so sorting the names sorts the files into write order (up to checkpoint 999999 and file 9999
// of a checkpoint; beyond that the numbers grow wider and only the numbers order them). When a
// file is created the directory is fsync'ed, so its entry survives a crash.
//
// Checkpoints. Checkpoint 1 starts with the first Append(). The ingestion task ends a
// checkpoint by publishing kCheckpointComplete{n} on the ControlBus. The boundary is exact:
// every message appended before that message was delivered is in checkpoint n's files, every
// later one in checkpoint n+1's. While checkpoint n is being closed (its last chunk written,
// its last file synced, truncated and closed) Append() is refused with Unavailable, so a
// message can never land on the wrong side. Then, if kCheckpointNeedsReingestion{n} came
// first, the files are published in write order in kReingestBackups{n, files} and left for the
// re-ingestion task (which deletes them); else, with retain_backups they are kept; else they are
// unlinked through the ring. A checkpoint in which nothing was appended has no files.
//
// Rotation. A chunk is sealed when it reaches options.chunk_target_bytes and always lands whole
// in one file. When a file's size reaches policy.max_file_size_bytes it is synced, closed
// (which cuts the O_DIRECT padding off, so every closed file ends exactly at its last chunk)
// and the next chunk opens the checkpoint's next file. When max_file_count files of one
// checkpoint have been filled, kBackupFull{n} is published, once per checkpoint, and the
// ingestion task ends the checkpoint. Until it does, writing goes on into more files: the
// limit asks for a checkpoint, it never drops data.
//
// Back-pressure. AppendFile takes bytes only while it has free buffers. A sealed chunk is
// handed over as its buffers free up; until all of it is, accepting() is false and Append()
// returns Unavailable without taking the message. The reactor leaves the message in its queue
// and retries once a ring completion has run (one always will: the chunk waits only on writes
// in flight).
//
// Errors. A failed create, write, sync or close (a full disk is ResourceExhausted, EIO is
// Internal) puts the manager in kFailed for good: status() names the file, Append() returns it,
// and kErrorSignal is published once. Nothing is dropped silently: the message that could not
// be written is the caller's to report. Files of a failed manager are left on disk as they are
// (later checkpoint messages do not delete them) for start-up recovery to find.
//
// Threading: everything, including the ControlBus callbacks and the ring completions, runs on
// the reactor thread; no locks. The manager moves only from calls by the reactor (Append, Sync,
// control messages) and from ring completions; one enum of states, one Step() moves it.
//
// Example (the reactor's side):
//
//   absl::StatusOr<std::unique_ptr<BackupManager>> backups =
//       BackupManager::Create(*ring, bus, policy, stream_id);
//   if (!backups.ok()) return backups.status();  // e.g. the directory does not exist
//   ...
//   while (!queue.empty() && (*backups)->accepting()) {
//     absl::Status s = (*backups)->Append(queue.front());
//     if (absl::IsUnavailable(s)) break;  // retry after the next ring turn
//     if (!s.ok()) return s;              // the backup path failed: Send must fail too
//     queue.pop_front();
//   }

#ifndef SIFT_STREAM_ENGINE_BACKUP_MANAGER_H_
#define SIFT_STREAM_ENGINE_BACKUP_MANAGER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/control_message.h"
#include "io/append_file.h"
#include "io/pbfs_encoder.h"
#include "io/ring.h"

namespace sift_stream::engine {

// Where and how much to back up; the names follow Sift's own client.
struct DiskBackupPolicy {
  // Must exist, be a directory and be writable by this process; it is not created for you.
  std::string backup_dir;
  // A file is closed once it reaches this size; it may exceed it by less than one chunk.
  uint64_t max_file_size_bytes = uint64_t{16} << 20;
  // Files filled in one checkpoint before kBackupFull asks the ingestion task to end it.
  int max_file_count = 8;
  // Keep the files of acknowledged checkpoints instead of deleting them.
  bool retain_backups = false;
};

struct BackupManagerOptions {
  // A chunk is sealed and handed to the file once its size reaches this. Larger chunks cost
  // less per message; a torn chunk loses everything in it.
  size_t chunk_target_bytes = 256 << 10;
  // Buffers of each backup file (io/append_file.h): size and count bound the bytes in flight.
  io::AppendFileOptions file;
};

// Counters for monitoring; see BackupManager::metrics().
struct BackupMetrics {
  uint64_t messages_backed_up = 0;  // Handed to a backup file (not necessarily synced yet).
  uint64_t bytes_backed_up = 0;     // PBFS bytes handed to backup files, chunk headers included.
  uint64_t files_created = 0;
  uint64_t files_deleted = 0;
  uint64_t delete_errors = 0;  // Files an acknowledged checkpoint could not delete.
  uint64_t rotations = 0;      // Files closed because they were full.
  uint64_t current_checkpoint = 0;
  uint64_t files_in_current_checkpoint = 0;
  uint64_t backup_full_signals = 0;
  uint64_t checkpoints_completed = 0;
  uint64_t checkpoints_reingested = 0;  // Completed checkpoints handed to re-ingestion.
};

class BackupManager {
 public:
  enum class State {
    kIdle,      // No file open. Messages collect in the open chunk; a sealed one opens a file.
    kWriting,   // A file is open and takes sealed chunks.
    kClosing,   // The file is full, or its checkpoint or the stream ended: it is being synced;
                // once idle it is closed (cut to its logical size).
    kShutDown,  // kShutdown was delivered and the last file is closed. Append() is refused;
                // a later kCheckpointComplete still disposes of the checkpoint's files.
    kFailed,    // A file operation failed; status() says which. Terminal.
  };

  // Checks `policy` and `stream_id` (InvalidArgument), and that policy.backup_dir exists
  // (NotFound), is a directory (FailedPrecondition) and is writable, by creating and removing
  // a probe file (PermissionDenied). Subscribes to `bus`. `ring` and `bus` must outlive the
  // manager. `stream_id` (e.g. a random hex id) starts every file name; it must be non-empty
  // and hold no '/'.
  static absl::StatusOr<std::unique_ptr<BackupManager>> Create(
      io::Ring& ring, ControlBus& bus, DiskBackupPolicy policy, std::string stream_id,
      BackupManagerOptions options = {});

  // Waits (running the ring) for its own operations in flight; the open chunk and any file
  // not yet closed are abandoned as a crash would leave them. Call after kShutdown has been
  // handled (state() == kShutDown, idle()) to leave every file clean.
  ~BackupManager();

  BackupManager(const BackupManager&) = delete;
  BackupManager& operator=(const BackupManager&) = delete;

  // Frames `serialized_message` into the current chunk (copying it) and, when the chunk is
  // full, starts writing it. Errors, nothing taken in each case: Unavailable while
  // !accepting(); FailedPrecondition after shutdown; InvalidArgument for a message over 4 GiB;
  // status() once failed.
  absl::Status Append(absl::string_view serialized_message);

  // True when Append() would take a message: no sealed chunk waits for buffer space and no
  // checkpoint end or shutdown is under way.
  bool accepting() const;

  // Seals the open chunk and fdatasyncs the current file once it is written; synced() turns
  // true when everything appended so far is on stable storage. Files closed earlier were
  // synced before they were closed. A later Append() makes synced() false again.
  void Sync();
  bool synced() const;

  // Nothing in flight and nothing pending: no sealed chunk waits for buffer space, no file is
  // closing, no checkpoint end, directory sync or deletion is under way, and the current file
  // has written everything handed to it. The open, unsealed chunk does not count (it waits for
  // more messages, not for the disk), but bytes in the file's partly filled write buffer do:
  // mid-checkpoint the manager is idle only after Sync(); after a checkpoint end or kShutdown
  // it is idle once the last file is closed. Test and shutdown code wait on this.
  bool idle() const;

  State state() const { return state_; }
  // OK, or the first error, naming the file.
  const absl::Status& status() const { return status_; }
  BackupMetrics metrics() const;
  // Files of the current checkpoint so far, in write order.
  const std::vector<std::string>& current_files() const { return files_; }

 private:
  BackupManager(io::Ring& ring, ControlBus& bus, DiskBackupPolicy policy, std::string stream_id,
                BackupManagerOptions options, int dir_fd);

  // The one function that moves state_: runs the current state's handler until one says
  // there is nothing to do before the next completion or call.
  void Step();
  // The handlers: each names the next state, or nullopt to wait.
  std::optional<State> StepIdle();
  std::optional<State> StepWriting();
  std::optional<State> StepClosing();
  std::optional<State> StepShutDown();
  std::optional<State> StepFailed();

  void OnControl(const ControlMessage& message);
  void OnCheckpointComplete(uint64_t checkpoint);
  void OnNeedsReingestion(uint64_t checkpoint);
  void OnFileProgress();
  void OnDirSynced(io::Completion& completion);
  void OnUnlinked(io::Completion& completion);

  // A checkpoint end was delivered and not yet carried out.
  bool end_pending() const { return end_through_ >= checkpoint_; }
  // The open chunk must be sealed now, not when it is full.
  bool must_seal() const { return end_pending() || shutdown_requested_ || sync_requested_; }
  void SealChunk();
  // Hands as much of the sealed chunk to the file as its buffers take.
  absl::Status WritePending();
  std::optional<State> OpenNextFile();
  State BeginClose();
  // Disposes of the ended checkpoint's (closed) files and starts the next checkpoint.
  void FinishCheckpoint();
  void RequestDirSync();
  void StartDirSync();
  void StartNextUnlink();
  State Fail(absl::Status status);
  void Signal(ControlKind kind, absl::Status error = absl::OkStatus());

  io::Ring& ring_;
  ControlBus& bus_;
  const DiskBackupPolicy policy_;
  const std::string stream_id_;
  const BackupManagerOptions options_;
  const int dir_fd_;  // O_RDONLY: for fsync of new entries and unlinkat of old ones.
  // Lets the bus subscription outlive the manager harmlessly (ControlBus cannot unsubscribe).
  std::shared_ptr<BackupManager*> self_;
  bool destroying_ = false;

  State state_ = State::kIdle;
  absl::Status status_;
  absl::Status async_error_;  // Found in a completion; Step() turns it into kFailed.

  // The chunk being filled, or sealed and being handed to the file (pending_). The sealed
  // view points into the encoder and stays valid until its Reset().
  io::PbfsChunkEncoder encoder_;
  bool pending_ = false;
  absl::string_view sealed_;
  size_t sealed_offset_ = 0;  // Bytes of sealed_ already in the file.

  std::unique_ptr<io::AppendFile> file_;
  // The last file closed: kept until the next one closes, because it may be closed from
  // inside its own progress callback.
  std::unique_ptr<io::AppendFile> retired_;
  bool closing_full_file_ = false;  // kClosing because of size, not an end.

  uint64_t checkpoint_ = 1;
  uint64_t end_through_ = 0;  // Highest checkpoint a kCheckpointComplete asked to end.
  std::set<uint64_t> reingest_;  // Checkpoints marked by kCheckpointNeedsReingestion.
  std::vector<std::string> files_;  // The current checkpoint's files, in write order.
  bool full_signaled_ = false;
  bool shutdown_requested_ = false;
  bool sync_requested_ = false;

  io::Completion dir_sync_;
  uint64_t dir_entries_created_ = 0;
  uint64_t dir_entries_synced_ = 0;
  uint64_t dir_sync_target_ = 0;

  io::Completion unlink_;
  std::deque<std::string> unlink_queue_;  // Front: the file being unlinked.

  BackupMetrics metrics_;
};

// "Idle", "Writing", ...: for logs and test messages.
const char* BackupStateName(BackupManager::State state);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_BACKUP_MANAGER_H_
