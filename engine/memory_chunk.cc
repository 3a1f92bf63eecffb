#include "engine/memory_chunk.h"

#include <cassert>
#include <utility>

namespace sift_stream::engine {

MemoryChunk::MemoryChunk(std::shared_ptr<MemoryBackupAccounts> accounts, uint64_t checkpoint,
                         std::string bytes, uint64_t messages)
    : accounts_(std::move(accounts)),
      checkpoint_(checkpoint),
      bytes_(std::move(bytes)),
      messages_(messages) {
  assert(accounts_->bytes_held_ >= bytes_.size() && accounts_->messages_held_ >= messages_ &&
         "a chunk takes over counts the backup added with Hold()");
  ++accounts_->chunks_[checkpoint_];
}

MemoryChunk::~MemoryChunk() {
  MemoryBackupAccounts& a = *accounts_;
  assert(a.bytes_held_ >= bytes_.size() && a.messages_held_ >= messages_);
  a.bytes_held_ -= bytes_.size();
  a.messages_held_ -= messages_;
  if (!acknowledged_ && unacknowledged_ > 0) {
    a.messages_lost_ += unacknowledged_;
    if (a.first_lost_checkpoint_ == 0 || checkpoint_ < a.first_lost_checkpoint_) {
      a.first_lost_checkpoint_ = checkpoint_;
    }
  }
  auto it = a.chunks_.find(checkpoint_);
  assert(it != a.chunks_.end());
  if (--it->second == 0) a.chunks_.erase(it);
}

}  // namespace sift_stream::engine
