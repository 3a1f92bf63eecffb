// tools/demo_sift.cc — the in-process fake Sift, its fault schedule and the loss account.

#include "tools/demo_sift.h"

#include <algorithm>
#include <cstdio>

#include "absl/time/clock.h"

namespace sift_stream::demo {

FaultSchedule PlanFaults(absl::Duration duration, absl::Duration outage,
                         absl::Duration restart_down) {
  FaultSchedule plan;
  plan.outage_at = duration / 4;
  plan.outage_for = outage;
  plan.restart_at = std::max(duration * 0.7, plan.outage_at + outage);
  plan.restart_down = restart_down;
  return plan;
}

absl::StatusOr<std::unique_ptr<DemoSift>> DemoSift::Start(const std::string& api_key) {
  testing::FakeSiftOptions options;
  options.api_keys = {api_key};
  absl::StatusOr<std::unique_ptr<testing::FakeSift>> sift = testing::FakeSift::Start(options);
  if (!sift.ok()) return sift.status();
  return std::unique_ptr<DemoSift>(new DemoSift(std::move(*sift)));
}

void DemoSift::RunFaults(const FaultSchedule& schedule) {
  const absl::Time start = absl::Now();
  thread_ = std::thread([this, schedule, start] { InjectFaults(schedule, start); });
}

void DemoSift::StopFaults() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  fault_.store(Fault::kNone);
}

std::string DemoSift::Marker() const {
  switch (fault_.load()) {
    case Fault::kNone: return "";
    case Fault::kOutage: return "OUTAGE";
    case Fault::kRestart: return "RESTART";
  }
  return "";
}

bool DemoSift::WaitUntil(absl::Time until) {
  std::unique_lock<std::mutex> lock(mu_);
  const absl::Duration left = std::max(until - absl::Now(), absl::ZeroDuration());
  return !stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(left), [this] { return stop_; });
}

void DemoSift::InjectFaults(const FaultSchedule& plan, absl::Time start) {
  if (plan.outage_for > absl::ZeroDuration()) {
    if (!WaitUntil(start + plan.outage_at)) return;
    // Streams already open carry on until their checkpoint ends; every new one is refused.
    sift_->RefuseStreamsFor(plan.outage_for);
    fault_.store(Fault::kOutage);
    outage_began_.store(true);
    if (!WaitUntil(start + plan.outage_at + plan.outage_for)) return;
    fault_.store(Fault::kNone);
  }
  if (plan.restart_down > absl::ZeroDuration()) {
    if (!WaitUntil(start + plan.restart_at)) return;
    fault_.store(Fault::kRestart);
    // Blocks for restart_down; StopFaults() waits for it rather than leave the port closed.
    absl::Status restarted = sift_->Restart(plan.restart_down);
    fault_.store(Fault::kNone);
    if (!restarted.ok()) {
      std::fprintf(stderr, "demo: the fake Sift did not come back after its restart: %s\n",
                   restarted.ToString().c_str());
    }
  }
}

ServerAccount DemoSift::Account(const Vehicle& vehicle, const std::string& ingestion_config_id,
                                const std::string& run_id) const {
  ServerAccount account;
  testing::MessageKey key;
  key.ingestion_config_id = ingestion_config_id;
  key.run_id = run_id;
  vehicle.ForEachSent([&](const std::string& flow, absl::Time timestamp) {
    // The split of the timestamp RequestBuilder makes (the demo's timestamps are after 1970).
    const int64_t ns = absl::ToUnixNanos(timestamp);
    key.flow = flow;
    key.timestamp_seconds = ns / 1000000000;
    key.timestamp_nanos = static_cast<int32_t>(ns % 1000000000);
    if (sift_->recorder().Committed(key)) ++account.committed;
  });
  const testing::FakeSiftStats stats = sift_->Stats();
  account.duplicates = stats.ingest.duplicate_messages;
  account.committed_duplicates = stats.ingest.committed_duplicates;
  account.streams_refused = stats.ingest.streams_refused;
  account.restarts = stats.restarts;
  account.outage_began = outage_began_.load();
  return account;
}

}  // namespace sift_stream::demo
