// tools/demo_sift.h — the Sift the demo streams to when no --uri is given: the in-process fake
// server (testing/fake_sift.h), the faults it injects on a schedule, and the key-by-key account
// of what it committed.
//
// Why in-process: the demo must run on a fresh machine with nothing else set up, and only the
// fake server can say, per message key, whether a message was committed — the exact loss
// count the demo exists to show (zero). The faults are the two that hurt a streaming client
// most: an outage (every new stream refused with UNAVAILABLE for a while, so data piles up on
// disk) and a restart (every open connection cut at once, then the same port back).
//
// Thread-safety: Marker() may be called from any thread; the rest from one thread.

#ifndef SIFT_STREAM_TOOLS_DEMO_SIFT_H_
#define SIFT_STREAM_TOOLS_DEMO_SIFT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/fake_sift.h"
#include "tools/demo_vehicle.h"

namespace sift_stream::demo {

// When the faults happen, counted from the start of sending. A zero duration turns a fault off.
struct FaultSchedule {
  absl::Duration outage_at, outage_for;
  absl::Duration restart_at, restart_down;
};

// The outage a quarter of the way in, the restart at 70 % (or right after the outage, if the
// outage runs past that), so that both land while data is flowing and the end of the run shows
// the recovery.
FaultSchedule PlanFaults(absl::Duration duration, absl::Duration outage,
                         absl::Duration restart_down);

// What the fake server has, for the messages the vehicle sent.
struct ServerAccount {
  uint64_t committed = 0;             // Sent keys the server committed.
  uint64_t duplicates = 0;            // Arrivals of a key that had arrived before.
  uint64_t committed_duplicates = 0;  // Arrivals, in OK streams, of committed keys.
  int64_t streams_refused = 0;
  int64_t restarts = 0;
  bool outage_began = false;  // The schedule got that far (Ctrl-C may end the run first).
};

class DemoSift {
 public:
  // Starts the fake server on a free loopback port, accepting only `api_key`.
  static absl::StatusOr<std::unique_ptr<DemoSift>> Start(const std::string& api_key);
  ~DemoSift() { StopFaults(); }

  std::string address() const { return sift_->address(); }

  // Injects the scheduled faults on a thread of its own; times count from this call.
  void RunFaults(const FaultSchedule& schedule);
  // Cancels the faults not yet begun; waits for a restart in progress to end.
  void StopFaults();
  // "OUTAGE" or "RESTART" while one is on, else "".
  std::string Marker() const;

  // Asks the server, for every message `vehicle` sent, whether it was committed.
  ServerAccount Account(const Vehicle& vehicle, const std::string& ingestion_config_id,
                        const std::string& run_id) const;

 private:
  enum class Fault { kNone, kOutage, kRestart };

  explicit DemoSift(std::unique_ptr<testing::FakeSift> sift) : sift_(std::move(sift)) {}
  void InjectFaults(const FaultSchedule& schedule, absl::Time start);
  // Sleeps until `until`; false if StopFaults() came first.
  bool WaitUntil(absl::Time until);

  std::unique_ptr<testing::FakeSift> sift_;
  std::atomic<Fault> fault_{Fault::kNone};
  std::atomic<bool> outage_began_{false};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sift_stream::demo

#endif  // SIFT_STREAM_TOOLS_DEMO_SIFT_H_
