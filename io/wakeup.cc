#include "io/wakeup.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>

namespace sift_stream::io {

absl::StatusOr<std::unique_ptr<Wakeup>> Wakeup::Create(Ring& ring, Callback on_wake) {
  int fd = eventfd(0, EFD_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "eventfd", "reactor wake-up");
  std::unique_ptr<Wakeup> wakeup(new Wakeup(ring, fd, on_wake));
  wakeup->Arm();
  return wakeup;
}

Wakeup::~Wakeup() {
  assert(!read_.in_flight() && "Disarm() and drain the ring before destroying a Wakeup");
  close(fd_);
}

void Wakeup::Arm() {
  ring_.Read(read_, fd_, &counter_, sizeof(counter_), 0, Bind<Wakeup, &Wakeup::OnRead>(this));
}

void Wakeup::Notify() {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  // eventfd writes only fail on counter overflow, which the reader's reset rules out.
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

void Wakeup::Disarm() {
  disarmed_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

void Wakeup::OnRead(Completion& completion) {
  if (completion.result >= 0) ++wakeups_;
  if (disarmed_) return;
  Arm();
  // Reading `true` here synchronizes with the producer's exchange, so what it published before
  // Notify() is visible to on_wake_. A Notify() after this point writes the eventfd again.
  pending_.exchange(false, std::memory_order_acq_rel);
  on_wake_.function(on_wake_.context, completion);
}

}  // namespace sift_stream::io
