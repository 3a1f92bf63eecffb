// io/wakeup.h — lets any thread wake the reactor thread that waits in Ring::RunOnce.
//
// A Wakeup keeps one 8-byte read of an eventfd in flight on the ring. `Notify()` (any thread)
// makes that read complete, so the reactor's RunOnce returns and `on_wake` runs on the reactor
// thread. Notifications coalesce: while one is pending, further Notify() calls cost one atomic
// exchange and no system call, which keeps producers off the syscall path at high message rates.
//
// Ordering contract: data a producer published before calling Notify() is visible to the
// reactor inside the `on_wake` that the notification causes (or in an earlier one that had not
// yet started when the producer published).
//
// Shutdown: call Disarm(), keep running the ring until `armed()` is false, then destroy.
//
//   auto wakeup = io::Wakeup::Create(*ring, io::Bind<Reactor, &Reactor::Drain>(this));
//   // producer thread:  queue.Push(item); wakeup->Notify();

#ifndef SIFT_STREAM_IO_WAKEUP_H_
#define SIFT_STREAM_IO_WAKEUP_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "io/ring.h"

namespace sift_stream::io {

class Wakeup {
 public:
  // `on_wake` runs on the ring's thread, once per batch of coalesced notifications; the
  // Completion it receives belongs to the Wakeup and must not be touched.
  static absl::StatusOr<std::unique_ptr<Wakeup>> Create(Ring& ring, Callback on_wake);
  ~Wakeup();

  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Thread-safe and async-signal-safe.
  void Notify();

  // Stops re-arming; the read in flight completes on a later turn of the ring.
  void Disarm();
  bool armed() const { return read_.in_flight(); }

  // Notifications that reached the kernel (not coalesced away); for tests and benchmarks.
  uint64_t wakeups() const { return wakeups_; }

 private:
  Wakeup(Ring& ring, int fd, Callback on_wake)
      : ring_(ring), fd_(fd), on_wake_(on_wake) {}

  void Arm();
  void OnRead(Completion& completion);

  Ring& ring_;
  const int fd_;
  const Callback on_wake_;
  Completion read_;
  uint64_t counter_ = 0;  // The eventfd's 8-byte value lands here.
  bool disarmed_ = false;
  uint64_t wakeups_ = 0;
  std::atomic<bool> pending_{false};
};

}  // namespace sift_stream::io

#endif  // SIFT_STREAM_IO_WAKEUP_H_
