// engine/control_message.h — the low-rate messages the reactor's three tasks coordinate with.
//
// Names and meanings follow Sift's own client (../shared/spec): the backup manager, the
// ingestion task and the re-ingestion task never call each other; they publish control
// messages on the reactor's ControlBus and react to the ones they subscribe to. Everything
// runs on the reactor thread, so the bus needs no locks; messages published while one is being
// delivered are queued and delivered after it, in order, so no task ever re-enters another.

#ifndef SIFT_STREAM_ENGINE_CONTROL_MESSAGE_H_
#define SIFT_STREAM_ENGINE_CONTROL_MESSAGE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace sift_stream::engine {

class MemoryChunk;  // engine/memory_chunk.h

enum class ControlKind {
  // Backup manager → ingestion: the checkpoint's files reached max_file_count; end the
  // checkpoint now (resets the checkpoint timer).
  kBackupFull,
  // Backup manager → re-ingestion: stream these files (or, from a memory backup, these
  // chunks) again: their checkpoint failed.
  kReingestBackups,
  // Ingestion → backup manager: Sift's verdict on checkpoint k is in. Unless
  // kCheckpointNeedsReingestion{k} came first, its (already closed) files are deleted or
  // retained; otherwise they go to re-ingestion.
  kCheckpointComplete,
  // Ingestion → backup manager: the current checkpoint's stream failed or dropped messages;
  // its files must be re-ingested when the checkpoint completes.
  kCheckpointNeedsReingestion,
  // Any task → everyone: something failed that the user must hear about.
  kErrorSignal,
  // The API → everyone: finish what is in flight and stop.
  kShutdown,
};

const char* ControlKindName(ControlKind kind);

struct ControlMessage {
  ControlKind kind;
  // The checkpoint the message is about (kCheckpointComplete, kCheckpointNeedsReingestion,
  // kReingestBackups, kBackupFull).
  uint64_t checkpoint = 0;
  // kReingestBackups: the files, in the order they were written.
  std::vector<std::string> backup_files;
  // kReingestBackups from a memory backup (engine/memory_backup.h): the checkpoint's chunks,
  // in order, instead of files. Shared: whoever holds the last reference frees them.
  std::vector<std::shared_ptr<MemoryChunk>> memory_chunks;
  // kErrorSignal: what went wrong (never an API key). kCheckpointNeedsReingestion: the
  // status its stream ended with, if it ended with one (OK when dropped or timed out).
  absl::Status error;
  // kCheckpointComplete from the ingestion task: the checkpoint's messages Sift acknowledged
  // on its live stream (every one written on it if the stream ended OK, else 0), even when
  // the checkpoint needs re-ingestion because others were dropped from the live queue.
  uint64_t messages_acknowledged = 0;
  // kCheckpointNeedsReingestion and kReingestBackups: when not empty, only these messages of
  // the checkpoint need re-ingestion, as [first, last) ranges of their positions in the
  // checkpoint (0-based, in send order, which is file order), ascending: Sift acknowledged
  // the others on the live stream, whose checkpoint failed only because these were dropped
  // from the full live queue. Empty: every message.
  std::vector<std::pair<uint64_t, uint64_t>> only_messages;
};

// Delivers control messages to subscribers on the reactor thread, in publication order.
// Bounded like the seed's control channel: publishing beyond `capacity` undelivered messages is
// a bug in a task (they are low-rate by design) and aborts.
class ControlBus {
 public:
  using Subscriber = std::function<void(const ControlMessage&)>;

  explicit ControlBus(size_t capacity = 1024) : capacity_(capacity) {}

  void Subscribe(Subscriber subscriber) { subscribers_.push_back(std::move(subscriber)); }

  // Queues `message`; delivery happens in Deliver(), never inside Publish().
  void Publish(ControlMessage message);

  // Delivers every queued message (including ones published meanwhile) to every subscriber.
  // Returns how many messages were delivered. Not re-entrant: a Deliver() from inside a
  // subscriber returns 0 and leaves the rest to the outer call.
  int Deliver();

  size_t pending() const { return queue_.size(); }
  uint64_t published() const { return published_; }

 private:
  const size_t capacity_;
  std::vector<Subscriber> subscribers_;
  std::deque<ControlMessage> queue_;
  bool delivering_ = false;
  uint64_t published_ = 0;
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_CONTROL_MESSAGE_H_
