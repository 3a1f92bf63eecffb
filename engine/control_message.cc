#include "engine/control_message.h"

#include <glog/logging.h>

#include <cstdlib>

namespace sift_stream::engine {

const char* ControlKindName(ControlKind kind) {
  switch (kind) {
    case ControlKind::kBackupFull:
      return "BackupFull";
    case ControlKind::kReingestBackups:
      return "ReingestBackups";
    case ControlKind::kCheckpointComplete:
      return "CheckpointComplete";
    case ControlKind::kCheckpointNeedsReingestion:
      return "CheckpointNeedsReingestion";
    case ControlKind::kErrorSignal:
      return "ErrorSignal";
    case ControlKind::kShutdown:
      return "Shutdown";
  }
  return "?";
}

void ControlBus::Publish(ControlMessage message) {
  if (queue_.size() >= capacity_) {
    LOG(ERROR) << "sift_stream: control bus overflow (" << queue_.size()
               << " undelivered) at " << ControlKindName(message.kind);
    std::abort();
  }
  ++published_;
  queue_.push_back(std::move(message));
}

int ControlBus::Deliver() {
  if (delivering_) return 0;
  delivering_ = true;
  int delivered = 0;
  while (!queue_.empty()) {
    ControlMessage message = std::move(queue_.front());
    queue_.pop_front();
    for (const Subscriber& subscriber : subscribers_) subscriber(message);
    ++delivered;
  }
  delivering_ = false;
  return delivered;
}

}  // namespace sift_stream::engine
