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
// Checkpoints. Checkpoint 1 starts with the first Append(). The boundary between checkpoints
// is one point in the message order (docs/architecture.md, "The checkpoint boundary"): when
// the ingestion task ends checkpoint k it calls IngestionOptions::on_checkpoint_end(k), and
// the reactor calls EndCheckpoint(k) at once. Every message appended before that call is in
// checkpoint k's files, every later one in k+1's. The open chunk is sealed on the spot (so no
// later message can join it); writing it, and syncing, truncating and closing k's last file,
// happen afterwards. Meanwhile Append() keeps taking k+1's messages into a new chunk; only
// once that chunk is full (or a Sync, shutdown or the next end seals it) is Append() refused
// with Unavailable until k's last file is closed and k+1's first one opened, as for rotation.
// A checkpoint in which nothing was appended has no files.
//
// Outcomes. kCheckpointComplete{k} and kCheckpointNeedsReingestion{k} arrive later, after
// Sift answered, possibly after k+1 ended too: an ended checkpoint waits, its files closed,
// for its outcome, and several may wait at once (metrics().checkpoints_waiting); outcomes are
// matched by number. kCheckpointNeedsReingestion{k} marks k; kCheckpointComplete{k} resolves
// it: marked, its files are published in write order in kReingestBackups{k, files} and left
// for the re-ingestion task (which deletes them); else with retain_backups they are kept;
// else they are unlinked through the ring. The bookkeeping is engine/checkpoint_ledger.h.
//
// Wrong numbers are bugs, reported with kErrorSignal and handled so that nothing is lost: the
// files of any checkpoint whose messages might not have been acknowledged are kept for
// re-ingestion, never deleted. EndCheckpoint(n) for n ahead of the open checkpoint k ends k
// there, marked, and k+1..n as empty checkpoints; for n behind k it draws no boundary and
// marks k. kCheckpointComplete{n} for n ahead of k does the same as EndCheckpoint(n) and
// resolves k..n. A repeated kCheckpointComplete is ignored; kCheckpointNeedsReingestion for a
// checkpoint already resolved is an error (its files are gone or kept, not re-ingested).
//
// Callers that draw no boundary. kCheckpointComplete{k} for a checkpoint still open ends it
// at that point, as EndCheckpoint(k) would, and resolves it once its last file is closed;
// kCheckpointNeedsReingestion for an open or future checkpoint marks it for when it ends. So
// a caller that publishes outcomes but never calls EndCheckpoint() gets the boundary at
// kCheckpointComplete, which is exact only if it sends nothing of k+1 before then.
//
// Rotation. A chunk is sealed when it reaches options.chunk_target_bytes and always lands whole
// in one file. When a file's size reaches policy.max_file_size_bytes it is synced, closed
// (which cuts the O_DIRECT padding off, so every closed file ends exactly at its last chunk)
// and the next chunk opens the checkpoint's next file. When max_file_count files of one
// checkpoint have been filled, kBackupFull{n} is published, once per checkpoint (and not for a
// checkpoint that has ended already), and the ingestion task ends the checkpoint. Until it does,
// writing goes on into more files: the limit asks for a checkpoint, it never drops data.
//
// Back-pressure. AppendFile takes bytes only while it has free buffers. A sealed chunk is
// handed over as its buffers free up; until all of it is, accepting() is false and Append()
// returns Unavailable without taking the message. The reactor leaves the message in its queue
// and retries once a ring completion has run (one always will: the chunk waits only on writes
// in flight, or on the sync and close of the file before it).
//
// Errors. A failed create, write, sync or close (a full disk is ResourceExhausted, EIO is
// Internal) puts the manager in kFailed for good: status() names the file, Append() returns it,
// and kErrorSignal is published once. Nothing is dropped silently: the message that could not
// be written is the caller's to report. Files of a failed manager are left on disk as they are
// (later checkpoint messages do not delete them) for start-up recovery to find. EndCheckpoint()
// and control messages are ignored once failed.
//
// Threading: everything, including the ControlBus callbacks and the ring completions, runs on
// the reactor thread; no locks. The manager moves only from calls by the reactor (Append, Sync,
// EndCheckpoint, control messages) and from ring completions; one enum of states, one Step()
// moves it.
//
// Example (the reactor's side):
//
//   absl::StatusOr<std::unique_ptr<BackupManager>> backups =
//       BackupManager::Create(*ring, bus, policy, stream_id);
//   if (!backups.ok()) return backups.status();  // e.g. the directory does not exist
//   ...
//   ingestion_options.on_checkpoint_end = [&](uint64_t ended) {
//     (*backups)->EndCheckpoint(ended);  // Before the next message is appended.
//   };
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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/checkpoint_ledger.h"
#include "engine/control_message.h"
#include "io/append_file.h"
#include "io/pbfs_encoder.h"
#include "io/ring.h"

namespace sift_stream::engine {

// When backup files are made durable with fdatasync. Every policy syncs what Flush() asks for
// (SiftStream::Flush, BackupManager::Sync); they differ in what is synced without being asked.
// docs/configuration.md has the throughput each one costs, measured.
struct SyncPolicy {
  enum class Kind {
    kOnFlush,   // Sync when asked, and each file once before it is closed. The default.
    kInterval,  // As kOnFlush, and the open file every `interval` while it has unsynced data.
    kBytes,     // As kOnFlush, and the open file whenever `bytes` more have been written.
    kNever,     // No fdatasync at all, not even at close or Flush: Flush() then confirms that
                // the kernel completed the writes, which survives the process being killed but
                // not a power cut or a kernel crash.
  };
  Kind kind = Kind::kOnFlush;
  absl::Duration interval = absl::Seconds(1);
  uint64_t bytes = uint64_t{16} << 20;

  static SyncPolicy OnFlush() { return SyncPolicy(); }
  static SyncPolicy Every(absl::Duration interval) {
    SyncPolicy policy;
    policy.kind = Kind::kInterval;
    policy.interval = interval;
    return policy;
  }
  static SyncPolicy EveryBytes(uint64_t bytes) {
    SyncPolicy policy;
    policy.kind = Kind::kBytes;
    policy.bytes = bytes;
    return policy;
  }
  static SyncPolicy Never() {
    SyncPolicy policy;
    policy.kind = Kind::kNever;
    return policy;
  }
};

// "on_flush", "interval", "bytes" or "never".
const char* SyncPolicyName(SyncPolicy::Kind kind);

// Where and how much to back up; the names follow Sift's own client.
struct DiskBackupPolicy {
  // Must exist, be a directory and be writable by this process; it is not created for you.
  std::string backup_dir;
  // A file is closed once it reaches this size; it may exceed it by less than one chunk.
  uint64_t max_file_size_bytes = uint64_t{16} << 20;
  // Files filled in one checkpoint before kBackupFull asks the ingestion task to end it.
  int max_file_count = 8;
  // Keep the files of acknowledged checkpoints instead of deleting them. Each kept file gets
  // an empty marker "<file>.acked" beside it, so that start-up recovery does not send it again.
  bool retain_backups = false;
  SyncPolicy sync;
};

struct BackupManagerOptions {
  // A chunk is sealed and handed to the file once its size reaches this. Larger chunks cost
  // less per message; a torn chunk loses everything in it.
  size_t chunk_target_bytes = 256 << 10;
  // Buffers of each backup file (io/append_file.h): size and count bound the bytes in flight.
  io::AppendFileOptions file;
  // A descriptor holding backup_dir's lock already (CheckAndLockBackupDir), still the
  // caller's: the manager shares that lock instead of taking it again, so that no other
  // process can take it in between. -1: the manager locks the directory itself.
  int held_lock_fd = -1;
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
  uint64_t checkpoints_completed = 0;   // Resolved by kCheckpointComplete.
  uint64_t checkpoints_reingested = 0;  // Completed checkpoints handed to re-ingestion.
  uint64_t checkpoints_waiting = 0;     // Ended, not yet resolved.
  // Files written with buffered I/O because the file system refused O_DIRECT (ramfs, some
  // overlays): correct, but they go through the page cache.
  uint64_t files_buffered = 0;
};

class BackupManager {
 public:
  enum class State {
    kIdle,      // No file open. Messages collect in the open chunk; a sealed one opens a file.
    kWriting,   // A file is open and takes sealed chunks.
    kClosing,   // The file is full, or its checkpoint or the stream ended: it is being synced;
                // once idle it is closed (cut to its logical size). Append() goes on.
    kShutDown,  // kShutdown was delivered and the last file is closed. Append() is refused;
                // EndCheckpoint() and outcomes still end and resolve checkpoints.
    kFailed,    // A file operation failed; status() says which. Terminal.
  };

  // Checks `policy` and `stream_id` (InvalidArgument), and that policy.backup_dir exists
  // (NotFound), is a directory (FailedPrecondition) and is writable, by creating and removing
  // a probe file (PermissionDenied). Locks the directory for the manager's lifetime
  // (FailedPrecondition if another stream holds it; see LockBackupDir). Subscribes to `bus`. `ring` and `bus` must outlive the
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

  // True when Append() would take a message: no sealed chunk waits for buffer space (or for
  // an ended checkpoint's last file to close) and no shutdown is under way.
  bool accepting() const;

  // Ends checkpoint `checkpoint` here, in the message order: the messages appended so far are
  // its last ones, the next Append() starts checkpoint+1. Call it from
  // IngestionOptions::on_checkpoint_end, with the number the ingestion task ended, which must
  // be the checkpoint open now (metrics().current_checkpoint); any other number is a bug,
  // published as kErrorSignal and handled conservatively (see "Wrong numbers" above). Its
  // last file is closed asynchronously; its files then wait for kCheckpointComplete. Allowed
  // after kShutdown; ignored once failed.
  void EndCheckpoint(uint64_t checkpoint);

  // Seals the open chunk and fdatasyncs the current file once it is written; synced() turns
  // true when everything appended so far is on stable storage. Files closed earlier were
  // synced before they were closed. A later Append() makes synced() false again.
  // With SyncPolicy::kNever it only writes (no fdatasync), and synced() waits for the writes.
  void Sync();
  bool synced() const;

  // Messages taken by Append() so far, and how many of them, counted from the first, are
  // durable: in files whose bytes and directory entries are on stable storage (with
  // SyncPolicy::kNever: whose writes the kernel completed). Append order is file order, so
  // durable_messages() is a prefix. It grows only through syncs: Sync() makes it reach
  // messages_appended() (at the time of the call) unless the manager fails.
  uint64_t messages_appended() const { return appended_; }
  uint64_t durable_messages() const { return durable_; }

  // Nothing in flight and nothing pending, so nothing to wait for: no sealed chunk waits for
  // buffer space, no file is closing, no checkpoint end is being carried out, no write, sync,
  // directory sync or deletion is in flight. Bytes not yet on their way to the disk do not
  // count: the open, unsealed chunk and the current file's partly filled buffer wait for more
  // messages or a Sync(), not for the disk. So mid-checkpoint the manager is idle between
  // writes (wait on synced() after Sync() for durability); after an end or kShutdown it is
  // idle once the last file is closed and resolved checkpoints are disposed of. Test and
  // shutdown code wait on this.
  bool idle() const;

  State state() const { return state_; }
  // OK, or the first error, naming the file.
  const absl::Status& status() const { return status_; }

  // A full disk (ENOSPC, EDQUOT) stalls the manager instead of failing it: the write, sync or
  // file creation that found it is retried with backoff (io/append_file.h), nothing is
  // dropped, and Append() is refused with Unavailable once the buffers are full, so messages
  // wait in the caller's queue. stall() says why (ResourceExhausted naming the file); OK when
  // the disk takes writes. AbandonStall() gives a stall up for good (a deadline ran out): the
  // manager fails with the stall as its status.
  absl::Status stall() const;
  void AbandonStall();
  BackupMetrics metrics() const;
  // Files of acknowledged checkpoints whose deletion failed: Sift has their data; they stay
  // on disk, and the next start's recovery sends them again and deletes them.
  const std::vector<std::string>& undeleted_files() const { return undeleted_files_; }
  // Files so far, in write order, of the checkpoint being written: the open one, or, from
  // EndCheckpoint() until its last file is closed, the one that ended.
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
  // Advances durable_ over the handed-over chunks whose file and directory entry are synced.
  void UpdateDurable();
  // kBytes policy: asks for a sync (which seals the chunk) once enough bytes were appended
  // since the last one.
  void CountBytesTowardsSync(uint64_t bytes);
  // Leaves "<path>.acked" beside a retained file of an acknowledged checkpoint.
  void MarkAcknowledged(const std::string& path);
  // Seals the open chunk if its checkpoint has ended, steps, and disposes of what resolved.
  void AfterLedgerChange();
  void OnFileProgress();
  // Counts (and says once, on stderr) that the current file fell back to buffered writes.
  void NoteBufferedIo();
  void OnDirSynced(io::Completion& completion);
  void OnUnlinked(io::Completion& completion);
  void OnCreateRetry(io::Completion& completion);

  // The open chunk must be sealed now, not when it is full.
  bool must_seal() const {
    return chunk_checkpoint_ < ledger_.open() || shutdown_requested_ || sync_requested_;
  }
  // The sealed chunk belongs to the checkpoint whose files are being written.
  bool pending_is_current() const { return pending_ && chunk_checkpoint_ == ledger_.writing(); }
  void SealChunk();
  // Hands as much of the sealed chunk to the file as its buffers take.
  absl::Status WritePending();
  std::optional<State> OpenNextFile();
  State BeginClose();
  // The ended checkpoint's last file is closed: hands its files to the ledger.
  void FinishWriting();
  // Publishes, unlinks or keeps the files of every checkpoint the ledger resolved.
  void DisposeResolved();
  void RequestDirSync();
  void StartDirSync();
  void StartNextUnlink();
  State Fail(absl::Status status);
  void Signal(ControlKind kind, uint64_t checkpoint, absl::Status error = absl::OkStatus());

  io::Ring& ring_;
  ControlBus& bus_;
  const DiskBackupPolicy policy_;
  const std::string stream_id_;
  // Buffers of closed files, for the next file (io/append_file.h); options_.file.pool.
  io::AppendBufferPool buffer_pool_;
  const BackupManagerOptions options_;
  const int dir_fd_;  // O_RDONLY: for fsync of new entries and unlinkat of old ones.
  int lock_fd_ = -1;  // Holds the flock on backup_dir (engine/backup_dir.h) for our lifetime.
  // Lets the bus subscription outlive the manager harmlessly (ControlBus cannot unsubscribe).
  std::shared_ptr<BackupManager*> self_;
  bool destroying_ = false;

  State state_ = State::kIdle;
  absl::Status status_;
  absl::Status async_error_;  // Found in a completion; Step() turns it into kFailed.

  // The chunk being filled, or sealed and being handed to the file (pending_). The sealed
  // view points into the encoder and stays valid until its Reset().
  io::PbfsChunkEncoder encoder_;
  uint64_t chunk_checkpoint_ = 1;  // The checkpoint of the chunk's messages.
  bool pending_ = false;
  absl::string_view sealed_;
  size_t sealed_offset_ = 0;  // Bytes of sealed_ already in the file.

  std::unique_ptr<io::AppendFile> file_;
  // The last file closed: kept until the next one closes, because it may be closed from
  // inside its own progress callback.
  std::unique_ptr<io::AppendFile> retired_;
  bool closing_full_file_ = false;  // kClosing because of size, not an end.
  bool file_counted_buffered_ = false;  // file_ is in metrics_.files_buffered already.

  CheckpointLedger ledger_;
  // Checkpoints that need only some of their messages re-ingested (ControlMessage::
  // only_messages), until their kReingestBackups goes out.
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> only_messages_;
  std::vector<std::string> files_;  // Files of ledger_.writing(), in write order.
  bool full_signaled_ = false;
  bool shutdown_requested_ = false;
  bool sync_requested_ = false;

  io::Completion dir_sync_;
  uint64_t dir_entries_created_ = 0;
  uint64_t dir_entries_synced_ = 0;
  uint64_t dir_sync_target_ = 0;

  io::Completion unlink_;
  std::deque<std::string> unlink_queue_;  // Front: the file being unlinked.

  // A file creation that found the disk full waits for this timer and is tried again.
  absl::Status create_stall_;
  io::Completion create_retry_;
  absl::Duration create_backoff_ = absl::Milliseconds(10);

  // Durability bookkeeping: each chunk handed whole to a file, oldest first, until both the
  // file's bytes up to the chunk's end and the file's directory entry are synced.
  struct HandedChunk {
    uint64_t file_serial;        // 1 for the first file created, 2 for the next, ...
    uint64_t end_offset;         // The file's logical size once the chunk was in.
    uint64_t messages_through;   // appended_ when the chunk was sealed.
  };
  std::deque<HandedChunk> unsynced_;
  uint64_t appended_ = 0;
  uint64_t sealed_through_ = 0;
  uint64_t durable_ = 0;
  uint64_t file_serial_ = 0;    // Of file_; files get serials in creation order.
  uint64_t closed_serial_ = 0;  // The last file closed cleanly (so fully synced or written).
  uint64_t bytes_since_sync_ = 0;

  std::vector<std::string> undeleted_files_;
  BackupMetrics metrics_;
};

// "Idle", "Writing", ...: for logs and test messages.
const char* BackupStateName(BackupManager::State state);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_BACKUP_MANAGER_H_
