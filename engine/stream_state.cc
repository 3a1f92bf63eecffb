#include "engine/stream_state.h"

#include <utility>

namespace sift_stream::engine {
namespace {

std::atomic<uint64_t> next_state_id{1};

// One per thread: the builder it last used, and which stream and generation it came from.
// owner 0 matches no stream, so a fresh thread always loads.
struct ThreadCache {
  uint64_t owner = 0;
  uint64_t generation = 0;
  std::shared_ptr<const RequestBuilder> builder;
};

}  // namespace

StreamState::StreamState(RequestBuilder initial)
    : id_(next_state_id.fetch_add(1, std::memory_order_relaxed)),
      current_(std::make_shared<const RequestBuilder>(std::move(initial))) {}

const RequestBuilder& StreamState::ForThisThread() const {
  thread_local ThreadCache cache;
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  if (cache.owner != id_ || cache.generation != generation) {
    std::lock_guard<std::mutex> lock(mu_);
    cache.owner = id_;
    cache.builder = current_;
    // Under the lock it cannot have moved past current_: Publish writes both under it.
    cache.generation = generation_.load(std::memory_order_relaxed);
  }
  return *cache.builder;
}

StreamState::Snapshot StreamState::Load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Snapshot{current_, generation_.load(std::memory_order_relaxed)};
}

void StreamState::Publish(RequestBuilder next) {
  auto builder = std::make_shared<const RequestBuilder>(std::move(next));
  std::lock_guard<std::mutex> lock(mu_);
  current_.swap(builder);
  generation_.fetch_add(1, std::memory_order_release);
  // The old builder is released after the lock (builder's destructor runs at scope exit,
  // after lock's): threads still holding it in their caches keep it alive meanwhile.
}

}  // namespace sift_stream::engine
