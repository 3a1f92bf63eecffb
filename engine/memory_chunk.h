// engine/memory_chunk.h — a piece of a memory backup, and the counts every piece keeps.
//
// Memory backups (engine/memory_backup.h) hold a checkpoint's messages as PBFS chunks in
// memory (io/pbfs_format.h), the same bytes a backup file would hold, so that re-ingestion
// reads them with the same reader (io::PbfsReader::FromBytes) as it reads files. A chunk is
// shared: the memory backup makes it, a kReingestBackups control message carries it to the
// re-ingestion task, and whoever drops the last reference frees it.
//
// The chunk does its own accounting, so that no owner can forget to: it holds the accounts
// of the backup that made it, and when it is destroyed it takes its bytes and messages off
// what is held and, unless Sift acknowledged them (MarkAcknowledged), adds its messages to
// what is lost. A chunk dropped for any reason — re-ingestion gave up, a job refused at
// shutdown, the process ending — is therefore counted, never silently forgotten.
//
// Threading: reactor thread only, like the rest of the engine; no locks.
//
// Example:
//
//   auto accounts = std::make_shared<MemoryBackupAccounts>();
//   accounts->Hold(chunk_bytes.size(), 3);  // The backup counts bytes as it takes them.
//   auto chunk = std::make_shared<MemoryChunk>(accounts, /*checkpoint=*/1,
//                                              std::move(chunk_bytes), /*messages=*/3);
//   ...
//   chunk->MarkAcknowledged();  // Sift has them: dropping the chunk loses nothing.
//   chunk.reset();              // accounts->bytes_held() is back to 0.

#ifndef SIFT_STREAM_ENGINE_MEMORY_CHUNK_H_
#define SIFT_STREAM_ENGINE_MEMORY_CHUNK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace sift_stream::engine {

// What a memory backup holds now and has lost, shared by the backup and its chunks.
class MemoryBackupAccounts {
 public:
  // Bytes and messages taken (the open chunk included) and not freed yet.
  uint64_t bytes_held() const { return bytes_held_; }
  uint64_t messages_held() const { return messages_held_; }
  // Messages whose chunk was dropped before Sift acknowledged them.
  uint64_t messages_lost() const { return messages_lost_; }
  // The lowest checkpoint that lost messages; 0: none lost.
  uint64_t first_lost_checkpoint() const { return first_lost_checkpoint_; }
  // The lowest checkpoint with a sealed chunk still alive; 0: none.
  uint64_t oldest_chunk_checkpoint() const {
    return chunks_.empty() ? 0 : chunks_.begin()->first;
  }

  // Called by the backup as it takes bytes into its open chunk.
  void Hold(uint64_t bytes, uint64_t messages) {
    bytes_held_ += bytes;
    messages_held_ += messages;
  }

 private:
  friend class MemoryChunk;
  uint64_t bytes_held_ = 0;
  uint64_t messages_held_ = 0;
  uint64_t messages_lost_ = 0;
  uint64_t first_lost_checkpoint_ = 0;
  std::map<uint64_t, uint64_t> chunks_;  // checkpoint → chunks alive.
};

// One sealed PBFS chunk of one checkpoint's messages.
class MemoryChunk {
 public:
  // Takes over the counts of `bytes` and `messages` the backup added to `accounts` with
  // Hold(): the chunk's destructor takes them off again.
  MemoryChunk(std::shared_ptr<MemoryBackupAccounts> accounts, uint64_t checkpoint,
              std::string bytes, uint64_t messages);
  ~MemoryChunk();

  MemoryChunk(const MemoryChunk&) = delete;
  MemoryChunk& operator=(const MemoryChunk&) = delete;

  uint64_t checkpoint() const { return checkpoint_; }
  // One complete PBFS chunk (header and frames), valid for the chunk's lifetime.
  absl::string_view bytes() const { return bytes_; }
  uint64_t messages() const { return messages_; }

  // Sift acknowledged every message of the chunk (live, or on re-ingestion).
  void MarkAcknowledged() { acknowledged_ = true; }
  bool acknowledged() const { return acknowledged_; }
  // Sift acknowledged all but `unacknowledged` of its messages on the live stream (the rest
  // were dropped from the full live queue): if the chunk is dropped before re-ingestion
  // confirms those, only they count as lost.
  void MarkAcknowledgedBut(uint64_t unacknowledged) {
    if (unacknowledged < unacknowledged_) unacknowledged_ = unacknowledged;
  }

 private:
  const std::shared_ptr<MemoryBackupAccounts> accounts_;
  const uint64_t checkpoint_;
  const std::string bytes_;
  const uint64_t messages_;
  uint64_t unacknowledged_ = messages_;
  bool acknowledged_ = false;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_MEMORY_CHUNK_H_
