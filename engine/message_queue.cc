#include "engine/message_queue.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sift_stream::engine {

MessageQueue::MessageQueue(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {
  std::lock_guard<std::mutex> lock(mu_);
  UpdateFullStatus();
}

void MessageQueue::UpdateFullStatus() {
  full_status_ = absl::ResourceExhaustedError(
      full_reason_.empty()
          ? absl::StrCat("backup queue full (", slots_.size(),
                         " messages waiting for the backup writer): the message was not "
                         "taken; retry, slow down, or raise the data capacity")
          : absl::StrCat("backup queue full (", slots_.size(), " messages waiting): ",
                         full_reason_, "; the message was not taken: retry later"));
  std::atomic_store(&full_status_shared_, std::make_shared<const absl::Status>(full_status_));
}

absl::Status MessageQueue::RefuseIfFull() {
  if (!full_.load(std::memory_order_relaxed)) return absl::OkStatus();
  busy_refused_.fetch_add(1, std::memory_order_relaxed);
  return *std::atomic_load(&full_status_shared_);
}

absl::Status MessageQueue::Push(std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  return PushLocked(message);
}

absl::Status MessageQueue::TryPush(std::string& message) {
  // Holders keep the lock for a few swaps (a batch of up to 256 for the reactor: microseconds,
  // more under a sanitizer), so spinning briefly nearly always gets it; a holder that was
  // preempted would make a waiter wait a scheduling quantum, which TryPush must not. 64 quick
  // tries alone fell inside one batch often enough to refuse an idle stream under load.
  constexpr absl::Duration kSpin = absl::Microseconds(50);
  const absl::Time give_up = absl::Now() + kSpin;
  do {
    for (int attempt = 0; attempt < 64; ++attempt) {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (lock.owns_lock()) return PushLocked(message);
    }
  } while (absl::Now() < give_up);
  busy_refused_.fetch_add(1, std::memory_order_relaxed);
  return absl::ResourceExhaustedError(
      "backup queue busy (other threads held its lock through every attempt): the message "
      "was not taken; retry");
}

absl::Status MessageQueue::PushLocked(std::string& message) {
  if (closed_) return close_reason_;
  if (count_ == slots_.size()) {
    ++refused_;
    return full_status_;
  }
  std::string& slot = slots_[(head_ + count_) % slots_.size()];
  slot.swap(message);
  ++count_;
  ++pushed_;
  if (count_ == slots_.size()) full_.store(true, std::memory_order_relaxed);
  message.clear();  // Keeps the recycled capacity.
  return absl::OkStatus();
}

bool MessageQueue::WaitForRoom(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto room = [&] { return closed_ || count_ <= slots_.size() / 2; };
  if (room()) return !closed_;
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::nanoseconds(absl::ToInt64Nanoseconds(
                            std::min(timeout, absl::Hours(24))));
  room_.wait_until(lock, deadline, room);
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return !closed_ && count_ < slots_.size();
}

size_t MessageQueue::PopBatch(std::vector<std::string>& batch, size_t max) {
  std::unique_lock<std::mutex> lock(mu_);
  const size_t n = std::min(max, count_);
  if (batch.size() < n) batch.resize(n);
  for (size_t i = 0; i < n; ++i) {
    batch[i].clear();
    batch[i].swap(slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
  }
  const bool crossed_half = count_ > slots_.size() / 2 && count_ - n <= slots_.size() / 2;
  count_ -= n;
  if (n > 0) full_.store(false, std::memory_order_relaxed);
  // waiters_ is raised under the lock, so a waiter that decided to wait is counted here.
  const bool wake = crossed_half && waiters_.load(std::memory_order_relaxed) > 0;
  lock.unlock();
  if (wake) room_.notify_all();
  return n;
}

void MessageQueue::Close(absl::Status reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;  // The first reason stands.
  closed_ = true;
  close_reason_ = reason.ok() ? absl::FailedPreconditionError(
                                    "the stream is finishing: Send() after Finish()")
                              : std::move(reason);
  room_.notify_all();
}

void MessageQueue::SetFullReason(std::string reason) {
  std::lock_guard<std::mutex> lock(mu_);
  full_reason_ = std::move(reason);
  UpdateFullStatus();
}

size_t MessageQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

uint64_t MessageQueue::pushed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pushed_;
}

uint64_t MessageQueue::refused() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_ + busy_refused_.load(std::memory_order_relaxed);
}

}  // namespace sift_stream::engine
