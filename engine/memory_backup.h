// engine/memory_backup.h — the backup manager for hosts without a writable disk: a bounded
// in-memory ring of the messages Sift has not acknowledged yet.
//
// StreamMode::kLiveWithMemoryBackups puts this in place of the backup manager
// (engine/backup_manager.h), with the same checkpoint semantics: every message the reactor
// moves is appended here as well as to the live stream; the ingestion task's checkpoint
// boundary (IngestionOptions::on_checkpoint_end → EndCheckpoint) cuts the messages into
// checkpoints at the same point in the message order; the bookkeeping is the disk backups'
// own CheckpointLedger (engine/checkpoint_ledger.h). When kCheckpointComplete{k} resolves a
// checkpoint Sift acknowledged, its memory is freed at once; when kCheckpointNeedsReingestion{k}
// came first, its chunks go to the re-ingestion task in kReingestBackups{k, memory_chunks},
// which streams them again with backoff and frees them once Sift acknowledges them.
//
// Storage. Messages are framed into PBFS chunks (io/pbfs_encoder.h) of about
// policy.chunk_bytes; a chunk is sealed when full or when its checkpoint ends, and copied into
// a MemoryChunk (engine/memory_chunk.h) of exactly its size. What is held counts PBFS bytes:
// each message's serialized size plus 4, plus 12 per chunk. Besides that the backup keeps one
// encoder buffer (about chunk_bytes), and messages Send accepted wait in the send queue
// (SiftStreamBuilder::DataCapacity) until the ring takes them.
//
// Full. Append() refuses with ResourceExhausted, taking nothing, when the message would take
// what is held past policy.max_bytes: the reactor leaves it in the send queue and Send refuses
// new messages, naming the memory backup, until acknowledgements free room. Nothing is ever
// dropped to make room. To get room back sooner, kBackupFull{k} asks the ingestion task to end
// the open checkpoint k (once per checkpoint) when the ring is full, or when k alone reaches
// policy.checkpoint_max_bytes, as max_file_count does for disk backups.
//
// Losses. Memory does not outlive the process: whatever is held when the stream stops, and
// whatever re-ingestion gives up on, is lost, and counted (MemoryBackupAccounts::messages_lost,
// messages_held) so that Finish can say how many with DataLoss.
//
// Threading: everything, the ControlBus callbacks included, runs on the reactor thread.
//
// Example (the reactor's side):
//
//   MemoryBackup memory(bus, policy);
//   ingestion_options.on_checkpoint_end = [&](uint64_t ended) { memory.EndCheckpoint(ended); };
//   ...
//   absl::Status s = memory.Append(message);
//   if (absl::IsResourceExhausted(s)) break;  // Full: the same message once room comes back.

#ifndef SIFT_STREAM_ENGINE_MEMORY_BACKUP_H_
#define SIFT_STREAM_ENGINE_MEMORY_BACKUP_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/checkpoint_ledger.h"
#include "engine/control_message.h"
#include "engine/memory_chunk.h"
#include "io/pbfs_encoder.h"

namespace sift_stream::engine {

// How much a memory backup may hold (SiftStreamBuilder::MemoryBackups).
struct MemoryBackupPolicy {
  // PBFS bytes of unacknowledged messages held at most; Send refuses beyond it. Must hold at
  // least two messages of SiftStreamBuilder::MaxMessageBytes (Build checks).
  uint64_t max_bytes = uint64_t{64} << 20;
  // The open checkpoint is ended early (kBackupFull) once it holds this many bytes, so that
  // it can be acknowledged and freed before the ring fills; 0: max_bytes / 4.
  uint64_t checkpoint_max_bytes = 0;
  // A chunk is sealed once it reaches this size; re-ingestion reads one chunk at a time.
  size_t chunk_bytes = 64 << 10;
};

// Counters for monitoring; see MemoryBackup::metrics().
struct MemoryBackupMetrics {
  uint64_t bytes_held = 0;
  uint64_t messages_held = 0;
  uint64_t messages_backed_up = 0;  // Taken by Append() since the start.
  uint64_t bytes_backed_up = 0;     // PBFS bytes of those.
  uint64_t messages_lost = 0;       // Dropped before Sift acknowledged them.
  uint64_t full_refusals = 0;       // Append() calls refused because the ring was full.
  uint64_t backup_full_signals = 0;
  uint64_t checkpoints_freed = 0;       // Acknowledged live: freed at once.
  uint64_t checkpoints_reingested = 0;  // Handed to re-ingestion.
};

class MemoryBackup {
 public:
  enum class State {
    kTaking,    // Append() takes messages.
    kFull,      // The last Append() was refused for want of room; the next that fits leaves.
    kShutDown,  // kShutdown was delivered: Append() is refused; outcomes still resolve.
  };

  // Subscribes to `bus` (kCheckpointComplete, kCheckpointNeedsReingestion, kShutdown), which
  // must outlive the backup; the subscription may outlive it harmlessly.
  MemoryBackup(ControlBus& bus, MemoryBackupPolicy policy);
  // Frees what is held; unacknowledged messages count as lost.
  ~MemoryBackup();

  MemoryBackup(const MemoryBackup&) = delete;
  MemoryBackup& operator=(const MemoryBackup&) = delete;

  // Copies `serialized_message` into the open checkpoint. ResourceExhausted, naming the memory
  // backup and its bound, when it does not fit now (nothing taken; see "Full" above);
  // FailedPrecondition after shutdown; InvalidArgument for a message PBFS cannot frame.
  absl::Status Append(absl::string_view serialized_message);
  // Append() would find room for a message of `message_bytes` now.
  bool HasRoomFor(size_t message_bytes) const;

  // Ends `checkpoint` here in the message order, as BackupManager::EndCheckpoint does (wrong
  // numbers are published as kErrorSignal and handled the ledger's way: keep, never free).
  void EndCheckpoint(uint64_t checkpoint);

  State state() const { return state_; }
  // The checkpoint messages appended now belong to.
  uint64_t open_checkpoint() const { return ledger_.open(); }
  // The lowest checkpoint some of whose messages are held, unacknowledged; 0: none.
  uint64_t oldest_held_checkpoint() const;
  // Shared with every chunk (they outlive the backup inside re-ingestion jobs).
  const MemoryBackupAccounts& accounts() const { return *accounts_; }
  MemoryBackupMetrics metrics() const;

 private:
  void OnControl(const ControlMessage& message);
  // Seals the open chunk if its checkpoint ended, closes ended checkpoints, and frees or
  // hands over every checkpoint the ledger resolved.
  void AfterLedgerChange();
  void SealChunk();
  void NoteLiveAcknowledgements(const std::vector<std::shared_ptr<MemoryChunk>>& chunks,
                                const std::vector<std::pair<uint64_t, uint64_t>>& only);
  void Signal(ControlKind kind, uint64_t checkpoint, absl::Status error = absl::OkStatus());

  ControlBus& bus_;
  const MemoryBackupPolicy policy_;
  const uint64_t checkpoint_max_bytes_;
  std::shared_ptr<MemoryBackupAccounts> accounts_;
  std::shared_ptr<MemoryBackup*> self_;

  State state_ = State::kTaking;
  CheckpointLedger ledger_;
  // As BackupManager's: checkpoints that need only some messages re-ingested.
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> only_messages_;
  io::PbfsChunkEncoder encoder_;
  uint64_t encoder_checkpoint_ = 1;  // The checkpoint of the encoder's messages.
  // Bytes held by checkpoint bytes_checkpoint_, the open one (its sealed chunks included),
  // and whether kBackupFull was published for it.
  uint64_t bytes_checkpoint_ = 1;
  uint64_t open_bytes_ = 0;
  bool full_signaled_ = false;
  // Sealed chunks of checkpoints not yet resolved, by checkpoint.
  std::map<uint64_t, std::vector<std::shared_ptr<MemoryChunk>>> chunks_;
  MemoryBackupMetrics metrics_;
};

// "taking", "full", "shut down": for logs and test messages.
const char* MemoryBackupStateName(MemoryBackup::State state);

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_MEMORY_BACKUP_H_
