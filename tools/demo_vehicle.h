// tools/demo_vehicle.h — the simulated vehicle of the demo: five flows at different rates.
//
// What a real rover sends, in miniature: an IMU at 1 kHz (6 doubles), wheel speeds at 100 Hz
// (4 floats, an int32 motor speed, a uint64 odometer), GPS at 10 Hz (doubles, uint32, int64),
// the battery at 10 Hz (doubles and bools) and a 1 Hz status (an enum, a string, a bit field)
// — every ChannelValue type the library has except bytes. Nominal, that is 1,121 messages a
// second; the demo wants 50k–200k, so every rate is multiplied by the same factor (the flows
// keep their proportions, and each flow's timestamps stay evenly spaced).
//
// Why the schedule is arithmetic: message i of a flow has timestamp start + i * period, an
// exact number of nanoseconds. The (flow, timestamp) pair is the message's key at Sift, so the
// demo can afterwards list every key it sent (ForEachSent) and ask the fake server, key by
// key, whether it was committed — which is how it counts losses and duplicates exactly,
// without storing a million keys on the way.
//
// Values are a pure function of the timestamp (a slow drive cycle plus deterministic noise),
// so a re-sent message carries the same values as the original.
//
// Thread-safety: none; one producer thread owns a Vehicle.

#ifndef SIFT_STREAM_TOOLS_DEMO_VEHICLE_H_
#define SIFT_STREAM_TOOLS_DEMO_VEHICLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/sift_stream.h"

namespace sift_stream::demo {

// One flow of the vehicle: its place in the schedule and how many messages went out.
struct FlowSchedule {
  std::string name;
  double nominal_hz = 0;
  double rate_hz = 0;         // After scaling.
  int64_t period_ns = 0;      // Between consecutive timestamps; >= 1.
  uint64_t sent = 0;          // Messages accepted by Send() so far.
  std::string channel_types;  // For the start-up banner, e.g. "6 x double".
};

class Vehicle {
 public:
  // Messages per second of all flows together at nominal rates.
  static constexpr double kNominalRateHz = 1000 + 100 + 10 + 10 + 1;

  // The vehicle's flows at `total_rate_hz` messages per second in all; the first message of
  // each flow is stamped `start` (truncated to whole nanoseconds).
  Vehicle(double total_rate_hz, absl::Time start);

  // The ingestion config that declares the flows (channel names, types, units, enum values,
  // bit-field layout).
  static IngestionConfigSpec Config(const std::string& asset_name,
                                    const std::string& client_key);

  const std::vector<FlowSchedule>& flows() const { return flows_; }
  absl::Time start() const { return start_; }

  // The earliest timestamp not sent yet, over all flows.
  absl::Time NextTime() const;
  // The next message (the flow of NextTime()): its flow name, and its values in `values`.
  // Repeated calls without Advance() describe the same message (to retry a refused Send).
  const std::string& Next(absl::Time* timestamp, std::vector<ChannelValue>* values) const;
  // Counts the message Next() described as sent; the following one becomes next.
  void Advance();

  uint64_t sent() const;
  // Calls `fn(flow, timestamp)` for every message counted by Advance(), flow by flow.
  void ForEachSent(const std::function<void(const std::string&, absl::Time)>& fn) const;

 private:
  size_t NextFlow() const;
  absl::Time TimestampOf(size_t flow, uint64_t index) const;

  absl::Time start_;
  std::vector<FlowSchedule> flows_;
};

}  // namespace sift_stream::demo

#endif  // SIFT_STREAM_TOOLS_DEMO_VEHICLE_H_
