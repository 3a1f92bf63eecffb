// tools/demo_vehicle.cc — the flows of the simulated vehicle and the drive cycle behind them.

#include "tools/demo_vehicle.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_format.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream::demo {
namespace {

using sift::common::type::v1::ChannelDataType;
using sift::ingestion_configs::v2::ChannelConfig;
using sift::ingestion_configs::v2::FlowConfig;
namespace types = sift::common::type::v1;

constexpr double kPi = 3.14159265358979323846;
constexpr double kWheelRadiusM = 0.35;
constexpr double kTrackWidthM = 1.6;
constexpr double kGearRatio = 9.0;
constexpr double kStartLatDeg = 37.7749;
constexpr double kStartLonDeg = -122.4194;

// Drive modes of the status flow's enum channel.
enum DriveMode : uint32_t { kPark = 0, kDrive = 1, kReverse = 2, kNeutral = 3 };
constexpr const char* kDriveModeNames[] = {"PARK", "DRIVE", "REVERSE", "NEUTRAL"};

// Bits of the status flow's one-byte warnings field.
constexpr uint8_t kBrakeWearBit = 1 << 0;
constexpr uint8_t kTirePressureBit = 1 << 1;
constexpr uint8_t kBatteryHotBit = 1 << 2;
constexpr uint8_t kGpsDegradedBit = 1 << 3;

ChannelConfig* AddChannel(FlowConfig* flow, const char* name, ChannelDataType type,
                          const char* unit) {
  ChannelConfig* channel = flow->add_channels();
  channel->set_name(name);
  channel->set_data_type(type);
  channel->set_unit(unit);
  return channel;
}

FlowConfig ImuFlow() {
  FlowConfig flow;
  flow.set_name("imu");
  for (const char* axis : {"accel_x", "accel_y", "accel_z"}) {
    AddChannel(&flow, axis, types::CHANNEL_DATA_TYPE_DOUBLE, "m/s^2");
  }
  for (const char* axis : {"gyro_x", "gyro_y", "gyro_z"}) {
    AddChannel(&flow, axis, types::CHANNEL_DATA_TYPE_DOUBLE, "rad/s");
  }
  return flow;
}

FlowConfig WheelsFlow() {
  FlowConfig flow;
  flow.set_name("wheels");
  for (const char* wheel : {"speed_fl", "speed_fr", "speed_rl", "speed_rr"}) {
    AddChannel(&flow, wheel, types::CHANNEL_DATA_TYPE_FLOAT, "rad/s");
  }
  AddChannel(&flow, "motor_rpm", types::CHANNEL_DATA_TYPE_INT_32, "rpm");
  AddChannel(&flow, "odometer", types::CHANNEL_DATA_TYPE_UINT_64, "mm");
  return flow;
}

FlowConfig GpsFlow() {
  FlowConfig flow;
  flow.set_name("gps");
  AddChannel(&flow, "latitude", types::CHANNEL_DATA_TYPE_DOUBLE, "deg");
  AddChannel(&flow, "longitude", types::CHANNEL_DATA_TYPE_DOUBLE, "deg");
  AddChannel(&flow, "altitude", types::CHANNEL_DATA_TYPE_DOUBLE, "m");
  AddChannel(&flow, "satellites", types::CHANNEL_DATA_TYPE_UINT_32, "");
  AddChannel(&flow, "fix_time", types::CHANNEL_DATA_TYPE_INT_64, "ns");
  return flow;
}

FlowConfig BatteryFlow() {
  FlowConfig flow;
  flow.set_name("battery");
  AddChannel(&flow, "voltage", types::CHANNEL_DATA_TYPE_DOUBLE, "V");
  AddChannel(&flow, "current", types::CHANNEL_DATA_TYPE_DOUBLE, "A");
  AddChannel(&flow, "state_of_charge", types::CHANNEL_DATA_TYPE_DOUBLE, "%");
  AddChannel(&flow, "temperature", types::CHANNEL_DATA_TYPE_DOUBLE, "degC");
  AddChannel(&flow, "charging", types::CHANNEL_DATA_TYPE_BOOL, "");
  AddChannel(&flow, "contactor_closed", types::CHANNEL_DATA_TYPE_BOOL, "");
  return flow;
}

FlowConfig StatusFlow() {
  FlowConfig flow;
  flow.set_name("status");
  ChannelConfig* mode = AddChannel(&flow, "drive_mode", types::CHANNEL_DATA_TYPE_ENUM, "");
  for (uint32_t key = kPark; key <= kNeutral; ++key) {
    auto* value = mode->add_enum_types();
    value->set_key(key);
    value->set_name(kDriveModeNames[key]);
  }
  AddChannel(&flow, "message", types::CHANNEL_DATA_TYPE_STRING, "");
  ChannelConfig* warnings = AddChannel(&flow, "warnings", types::CHANNEL_DATA_TYPE_BIT_FIELD, "");
  const struct { const char* name; int index; uint32_t bits; } kElements[] = {
      {"brake_wear", 0, 1}, {"tire_pressure", 1, 1}, {"battery_hot", 2, 1},
      {"gps_degraded", 3, 1}, {"spare", 4, 4}};
  for (const auto& e : kElements) {
    auto* element = warnings->add_bit_field_elements();
    element->set_name(e.name);
    element->set_index(e.index);
    element->set_bit_count(e.bits);
  }
  return flow;
}

// Deterministic noise in [-1, 1] from a message's timestamp and flow (splitmix64), so a
// re-sent message has exactly the original's values.
double Noise(int64_t timestamp_ns, uint64_t salt) {
  uint64_t z = static_cast<uint64_t>(timestamp_ns) + salt * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(uint64_t{1} << 52) - 1.0;
}

// The drive cycle at `t` seconds into the drive: a speed that swings between 4 and 20 m/s
// every 40 s, and a gentle weave of the heading every 60 s.
struct DriveState {
  double speed_mps, accel_mps2, distance_m, heading_rad, yaw_rate_rps;
};

DriveState Drive(double t) {
  const double w_speed = 2 * kPi / 40, w_heading = 2 * kPi / 60;
  DriveState s;
  s.speed_mps = 12 + 8 * std::sin(w_speed * t);
  s.accel_mps2 = 8 * w_speed * std::cos(w_speed * t);
  s.distance_m = 12 * t + 8 / w_speed * (1 - std::cos(w_speed * t));
  s.heading_rad = 0.3 * std::sin(w_heading * t);
  s.yaw_rate_rps = 0.3 * w_heading * std::cos(w_heading * t);
  return s;
}

double StateOfChargePct(double t) { return 90 - 0.02 * t; }
double BatteryTempC(double t) { return 30 + 0.01 * t; }
uint32_t Satellites(int64_t ns) { return 9 + static_cast<int>(3 * Noise(ns / 1000000000, 7)); }

void ImuValues(double t, int64_t ns, std::vector<ChannelValue>* v) {
  const DriveState s = Drive(t);
  v->push_back(ChannelValue::Double(s.accel_mps2 + 0.05 * Noise(ns, 1)));
  v->push_back(ChannelValue::Double(s.speed_mps * s.yaw_rate_rps + 0.05 * Noise(ns, 2)));
  v->push_back(ChannelValue::Double(9.81 + 0.2 * std::sin(2 * kPi * 13 * t) + 0.05 * Noise(ns, 3)));
  v->push_back(ChannelValue::Double(0.01 * Noise(ns, 4)));
  v->push_back(ChannelValue::Double(0.01 * Noise(ns, 5)));
  v->push_back(ChannelValue::Double(s.yaw_rate_rps + 0.002 * Noise(ns, 6)));
}

void WheelValues(double t, int64_t ns, std::vector<ChannelValue>* v) {
  const DriveState s = Drive(t);
  const double left = (s.speed_mps - s.yaw_rate_rps * kTrackWidthM / 2) / kWheelRadiusM;
  const double right = (s.speed_mps + s.yaw_rate_rps * kTrackWidthM / 2) / kWheelRadiusM;
  for (double w : {left, right, left, right}) {
    v->push_back(ChannelValue::Float(static_cast<float>(w + 0.05 * Noise(ns, v->size()))));
  }
  const double wheel_rps = s.speed_mps / kWheelRadiusM;
  v->push_back(ChannelValue::Int32(static_cast<int32_t>(wheel_rps * kGearRatio * 60 / (2 * kPi))));
  v->push_back(ChannelValue::Uint64(static_cast<uint64_t>(s.distance_m * 1000)));
}

void GpsValues(double t, int64_t ns, std::vector<ChannelValue>* v) {
  const DriveState s = Drive(t);
  const double north_m = s.distance_m * std::cos(s.heading_rad);
  const double east_m = s.distance_m * std::sin(s.heading_rad);
  v->push_back(ChannelValue::Double(kStartLatDeg + north_m / 111111 + 2e-6 * Noise(ns, 8)));
  v->push_back(ChannelValue::Double(kStartLonDeg + east_m / 88000 + 2e-6 * Noise(ns, 9)));
  v->push_back(ChannelValue::Double(16 + 4 * std::sin(s.distance_m / 500) + Noise(ns, 10)));
  v->push_back(ChannelValue::Uint32(Satellites(ns)));
  v->push_back(ChannelValue::Int64(ns));
}

void BatteryValues(double t, int64_t ns, std::vector<ChannelValue>* v) {
  const DriveState s = Drive(t);
  const double current_a = 25 + 40 * s.accel_mps2 + 0.8 * s.speed_mps + Noise(ns, 11);
  const double soc = StateOfChargePct(t);
  v->push_back(ChannelValue::Double(400 - 0.05 * current_a - 0.4 * (100 - soc)));
  v->push_back(ChannelValue::Double(current_a));
  v->push_back(ChannelValue::Double(soc));
  v->push_back(ChannelValue::Double(BatteryTempC(t) + 0.1 * Noise(ns, 12)));
  v->push_back(ChannelValue::Bool(current_a < 0));  // Regenerative braking.
  v->push_back(ChannelValue::Bool(true));
}

void StatusValues(double t, int64_t ns, std::vector<ChannelValue>* v) {
  const DriveState s = Drive(t);
  const DriveMode mode = s.speed_mps < 5 ? kNeutral : kDrive;
  uint8_t warnings = 0;
  if (s.accel_mps2 < -1) warnings |= kBrakeWearBit;
  if (static_cast<int64_t>(t) % 30 >= 25) warnings |= kTirePressureBit;
  if (BatteryTempC(t) > 31) warnings |= kBatteryHotBit;
  if (Satellites(ns) < 7) warnings |= kGpsDegradedBit;
  v->push_back(ChannelValue::Enum(mode));
  v->push_back(ChannelValue::String(absl::StrFormat("%s at %.1f m/s, battery %.1f%%",
                                                    kDriveModeNames[mode], s.speed_mps,
                                                    StateOfChargePct(t))));
  v->push_back(ChannelValue::BitField(std::string(1, static_cast<char>(warnings))));
}

using ValuesFn = void (*)(double t, int64_t ns, std::vector<ChannelValue>*);

struct FlowSpec {
  FlowConfig (*config)();
  double nominal_hz;
  ValuesFn values;
  const char* channel_types;
};

// The order of flows() and of Config().flows.
const FlowSpec kFlows[] = {
    {ImuFlow, 1000, ImuValues, "6 x double"},
    {WheelsFlow, 100, WheelValues, "4 x float, int32, uint64"},
    {GpsFlow, 10, GpsValues, "3 x double, uint32, int64"},
    {BatteryFlow, 10, BatteryValues, "4 x double, 2 x bool"},
    {StatusFlow, 1, StatusValues, "enum, string, bit field"},
};

}  // namespace

Vehicle::Vehicle(double total_rate_hz, absl::Time start)
    : start_(absl::FromUnixNanos(absl::ToUnixNanos(start))) {
  const double scale = total_rate_hz / kNominalRateHz;
  for (const FlowSpec& spec : kFlows) {
    FlowSchedule flow;
    flow.name = spec.config().name();
    flow.nominal_hz = spec.nominal_hz;
    flow.period_ns = std::max<int64_t>(1, std::llround(1e9 / (spec.nominal_hz * scale)));
    flow.rate_hz = 1e9 / static_cast<double>(flow.period_ns);
    flow.channel_types = spec.channel_types;
    flows_.push_back(std::move(flow));
  }
}

IngestionConfigSpec Vehicle::Config(const std::string& asset_name,
                                    const std::string& client_key) {
  IngestionConfigSpec config;
  config.asset_name = asset_name;
  config.client_key = client_key;
  for (const FlowSpec& spec : kFlows) config.flows.push_back(spec.config());
  return config;
}

size_t Vehicle::NextFlow() const {
  size_t best = 0;
  int64_t best_ns = std::numeric_limits<int64_t>::max();
  for (size_t f = 0; f < flows_.size(); ++f) {
    const int64_t ns = static_cast<int64_t>(flows_[f].sent) * flows_[f].period_ns;
    if (ns < best_ns) best = f, best_ns = ns;  // Ties go to the faster flow (lower index).
  }
  return best;
}

absl::Time Vehicle::TimestampOf(size_t flow, uint64_t index) const {
  return start_ + absl::Nanoseconds(static_cast<int64_t>(index) * flows_[flow].period_ns);
}

absl::Time Vehicle::NextTime() const {
  const size_t f = NextFlow();
  return TimestampOf(f, flows_[f].sent);
}

const std::string& Vehicle::Next(absl::Time* timestamp, std::vector<ChannelValue>* values) const {
  const size_t f = NextFlow();
  *timestamp = TimestampOf(f, flows_[f].sent);
  const double t = absl::ToDoubleSeconds(*timestamp - start_);
  values->clear();
  kFlows[f].values(t, absl::ToUnixNanos(*timestamp), values);
  return flows_[f].name;
}

void Vehicle::Advance() { ++flows_[NextFlow()].sent; }

uint64_t Vehicle::sent() const {
  uint64_t total = 0;
  for (const FlowSchedule& flow : flows_) total += flow.sent;
  return total;
}

void Vehicle::ForEachSent(const std::function<void(const std::string&, absl::Time)>& fn) const {
  for (size_t f = 0; f < flows_.size(); ++f) {
    for (uint64_t i = 0; i < flows_[f].sent; ++i) fn(flows_[f].name, TimestampOf(f, i));
  }
}

}  // namespace sift_stream::demo
