// engine/flow_writer.h — a flow resolved once, for the hot path of a high-rate producer.
//
// SiftStream::Send(flow, timestamp, values) looks the flow up by name, builds a protobuf
// request, checks it and serializes it: fine at thousands of messages per second, the main
// cost at a million. A FlowWriter does the lookup and the checks of the flow's shape once, when
// it is made, and keeps the constant part of every request (config id, flow name, run id)
// already encoded. Per message it only stores the values the caller sets into a row of typed
// slots (checking each type with one compare) and, at Send(), writes the protobuf wire bytes
// of the request directly: the same bytes protobuf's serializer produces for the same request
// (tested), with no message object, no string copies of names and no allocation once its
// buffers are warm.
//
//   absl::StatusOr<FlowWriter> imu = stream->Flow("imu");         // once
//   if (!imu.ok()) return imu.status();                            // unknown flow
//   const size_t ax = *imu->ChannelIndex("accel_x");               // once
//   ...
//   imu->SetDouble(ax, 9.81).SetDouble(ax + 1, 0.1).SetBool(5, true);  // per message
//   absl::Status s = imu->Send(absl::Now());  // unset channels go as "empty" (no new value)
//
// Errors: a setter given a channel index out of range, or a value of another type than the
// channel's, records the first such mistake; Send() then returns it (InvalidArgument naming the
// flow, the channel and both types), sends nothing and clears the row. Otherwise Send() returns
// what SiftStream::Send would (ResourceExhausted: not taken, retry; etc.); on any error the
// row is cleared, so the next message starts empty. TrySend() never waits and keeps a refused
// row for the next try (see SiftStream::TrySend).
//
// Runs: the run id is part of the constant part, but the stream's run can change
// (SiftStream::AttachRun, DetachRun). Send() checks the stream's state generation (one atomic
// load) and re-encodes the run id when it moved, so each message carries the run current when
// its Send() started, exactly as SiftStream::Send's would.
//
// Threading: a FlowWriter is one producer's: use it from one thread at a time, and make one
// per thread (they are cheap to copy). Every writer must be destroyed or unused before the
// stream it came from is destroyed.

#ifndef SIFT_STREAM_ENGINE_FLOW_WRITER_H_
#define SIFT_STREAM_ENGINE_FLOW_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

namespace sift_stream {

class SiftStream;

class FlowWriter {
 public:
  // Encodes the constant part of every request of `flow`, with `run_id` as of the stream's
  // state generation `generation`. Use SiftStream::Flow() instead. Without a stream
  // (nullptr: Encode() only) the run id never changes.
  FlowWriter(SiftStream* stream, const sift::ingestion_configs::v2::FlowConfig& flow,
             absl::string_view ingestion_config_id, absl::string_view run_id,
             uint64_t generation = 0);

  const std::string& flow_name() const { return flow_name_; }
  size_t channel_count() const { return slots_.size(); }
  // The index of channel `name` in the flow (resolve it once, outside the hot path).
  absl::StatusOr<size_t> ChannelIndex(absl::string_view name) const;

  // Sets channel `channel` of the row being built. The value's type must be the channel's.
  FlowWriter& SetDouble(size_t channel, double value);
  FlowWriter& SetFloat(size_t channel, float value);
  FlowWriter& SetBool(size_t channel, bool value);
  FlowWriter& SetInt32(size_t channel, int32_t value);
  FlowWriter& SetUint32(size_t channel, uint32_t value);
  FlowWriter& SetInt64(size_t channel, int64_t value);
  FlowWriter& SetUint64(size_t channel, uint64_t value);
  FlowWriter& SetEnum(size_t channel, uint32_t key);
  FlowWriter& SetString(size_t channel, absl::string_view value);
  FlowWriter& SetBitField(size_t channel, absl::string_view bits);
  FlowWriter& SetBytes(size_t channel, absl::string_view bytes);
  // "No new value" for the channel; the default for every channel not set.
  FlowWriter& SetEmpty(size_t channel);

  // Name-addressed forms, for code that is not on a hot path: one lookup per call. An unknown
  // name is recorded like a type mismatch and returned by Send().
  FlowWriter& SetDouble(absl::string_view channel, double value);
  FlowWriter& SetInt64(absl::string_view channel, int64_t value);
  FlowWriter& SetBool(absl::string_view channel, bool value);
  FlowWriter& SetString(absl::string_view channel, absl::string_view value);

  // Sends the row with `timestamp` through the stream and clears it; see the file comment.
  absl::Status Send(absl::Time timestamp);

  // Send() that never waits (SiftStream::TrySend) and keeps a refused row: on
  // ResourceExhausted (or FailedPrecondition after Finish) the row stays exactly as set, so
  // TrySend(timestamp) again later sends the same message; the caller keeps the timestamp.
  // OK and InvalidArgument (a recorded mistake, or too large: it can never be sent) clear
  // the row, as Send() does.
  absl::Status TrySend(absl::Time timestamp);

  // The request's wire bytes for the row as it stands, without sending or clearing it (for
  // tests and tools). Fails as Send() would on a recorded mistake.
  absl::StatusOr<std::string> Encode(absl::Time timestamp) const;

 private:
  // The protobuf field number of each value kind in IngestWithConfigDataChannelValue.
  enum class Kind : uint8_t {
    kEmpty = 11, kString = 1, kDouble = 2, kFloat = 3, kBool = 4, kInt32 = 5, kUint32 = 6,
    kInt64 = 7, kUint64 = 8, kBitField = 9, kEnum = 10, kBytes = 12,
  };
  struct Slot {
    Kind expected;   // From the channel's declared type.
    Kind set = Kind::kEmpty;
    union {
      double f64;
      float f32;
      uint64_t u64;  // bool, every integer (sign-extended) and enum keys.
    };
    std::string text;  // string, bit field, bytes.
  };

  bool Check(size_t channel, Kind kind);
  void Fail(std::string why);
  void Clear();
  void EncodeTo(absl::Time timestamp, std::string* out) const;
  size_t IndexOrFail(absl::string_view name);
  // Re-encodes suffix_ if the stream's run may have changed since it was encoded.
  void RefreshRunId() const;

  SiftStream* stream_;
  std::string flow_name_;
  std::vector<std::string> channel_names_;
  std::string prefix_;  // Fields 1 (config id) and 2 (flow name), encoded.
  // Field 5 (run id), encoded, or empty; as of the stream's state generation_. Mutable: the
  // const Encode() refreshes them too (a writer is one thread's).
  mutable std::string suffix_;
  mutable uint64_t generation_;
  std::vector<Slot> slots_;
  std::string error_;   // The first mistake in the row being built.
  std::string buffer_;  // Reused for every message's bytes.
};

}  // namespace sift_stream

#endif  // SIFT_STREAM_ENGINE_FLOW_WRITER_H_
