#include "testing/ingest_recorder.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sift_stream::testing {
namespace {

// Contract violations by the caller (ending a stream twice, using it after the end) would make
// the counts lie, so they stop the process in every build mode, not only with assert().
void Require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "IngestRecorder: contract violated: %s\n", what);
  std::abort();
}

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t Fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

// Two 64-bit lanes mixed as in MurmurHash3 x64_128, fed one 64-bit word at a time so the key
// fields can be hashed where they lie, without copying them into one buffer per message.
class KeyHasher {
 public:
  void AddWord(uint64_t word) {
    uint64_t k1 = Rotl(word * kC1, 31) * kC2;
    h1_ = Rotl(h1_ ^ k1, 27) + h2_;
    h1_ = h1_ * 5 + 0x52dce729;
    uint64_t k2 = Rotl(word * kC2, 33) * kC1;
    h2_ = Rotl(h2_ ^ k2, 31) + h1_;
    h2_ = h2_ * 5 + 0x38495ab5;
    ++words_;
  }

  // Length first, so that ("ab", "c") and ("a", "bc") hash differently.
  void AddString(absl::string_view text) {
    AddWord(text.size());
    size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      AddWord(word);
    }
    if (i < text.size()) {
      uint64_t word = 0;
      std::memcpy(&word, text.data() + i, text.size() - i);
      AddWord(word);
    }
  }

  std::array<uint32_t, 3> Finish() {
    h1_ ^= words_;
    h2_ ^= words_;
    h1_ += h2_;
    h2_ += h1_;
    h1_ = Fmix(h1_);
    h2_ = Fmix(h2_);
    h1_ += h2_;
    h2_ += h1_;
    return {static_cast<uint32_t>(h1_), static_cast<uint32_t>(h1_ >> 32),
            static_cast<uint32_t>(h2_)};
  }

 private:
  static constexpr uint64_t kC1 = 0x87c37b91114253d5ull;
  static constexpr uint64_t kC2 = 0x4cf5ad432745937full;
  uint64_t h1_ = 0x9e3779b97f4a7c15ull;
  uint64_t h2_ = 0x243f6a8885a308d3ull;
  uint64_t words_ = 0;
};

}  // namespace

std::string IngestStats::ToJson() const {
  std::string json = "{";
  auto field = [&json](absl::string_view name, int64_t value) {
    absl::StrAppend(&json, json.size() > 1 ? "," : "", "\"", name, "\":", value);
  };
  field("streams_opened", streams_opened);
  field("streams_completed", streams_completed);
  field("streams_failed", streams_failed);
  field("streams_refused", streams_refused);
  field("streams_unauthenticated", streams_unauthenticated);
  field("messages_received", messages_received);
  field("bytes_received", bytes_received);
  field("invalid_messages", invalid_messages);
  field("unique_messages", unique_messages);
  field("duplicate_messages", duplicate_messages);
  field("committed_messages", committed_messages);
  field("uncommitted_messages", uncommitted_messages);
  field("committed_duplicates", committed_duplicates);
  field("sink_streams", sink_streams);
  field("sink_streams_refused", sink_streams_refused);
  field("sink_messages", sink_messages);
  field("sink_bytes", sink_bytes);
  absl::StrAppendFormat(&json, ",\"server_cpu_ns_per_message\":%.1f}", server_cpu_ns_per_message);
  return json;
}

// --- Stream -------------------------------------------------------------------------------

IngestRecorder::Stream::Stream(Stream&& other) noexcept
    : recorder_(other.recorder_),
      generation_(other.generation_),
      ids_(std::move(other.ids_)),
      ended_(other.ended_) {
  // The moved-from stream must not count as failed when it is destroyed.
  other.ended_ = true;
}

IngestRecorder::Stream::~Stream() {
  if (!ended_) Failed();
}

void IngestRecorder::Stream::Received(const MessageKey& key, int64_t size_bytes) {
  Require(!ended_, "Received() after the stream ended");
  const MessageId id = IdOf(key);  // Hashed outside the recorder's lock.
  if (recorder_->RecordArrival(generation_, id, size_bytes)) ids_.push_back(id);
}

void IngestRecorder::Stream::Invalid(int64_t size_bytes) {
  Require(!ended_, "Invalid() after the stream ended");
  recorder_->RecordInvalid(generation_, size_bytes);
}

void IngestRecorder::Stream::Completed() { recorder_->EndStream(*this, End::kCompleted); }
void IngestRecorder::Stream::Failed() { recorder_->EndStream(*this, End::kFailed); }
void IngestRecorder::Stream::Refused() { recorder_->EndStream(*this, End::kRefused); }
void IngestRecorder::Stream::RefusedUnauthenticated() {
  recorder_->EndStream(*this, End::kUnauthenticated);
}

// --- IngestRecorder -----------------------------------------------------------------------

IngestRecorder::IngestRecorder() : cpu_ns_at_start_(ProcessCpuNs()) {}

IngestRecorder::Stream IngestRecorder::BeginStream() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_.streams_opened;
  return Stream(this, generation_);
}

IngestRecorder::MessageId IngestRecorder::IdOf(const MessageKey& key) {
  KeyHasher hasher;
  hasher.AddString(key.ingestion_config_id);
  hasher.AddString(key.flow);
  hasher.AddWord(static_cast<uint64_t>(key.timestamp_seconds));
  hasher.AddWord(static_cast<uint32_t>(key.timestamp_nanos));
  hasher.AddString(key.run_id);
  return hasher.Finish();
}

bool IngestRecorder::RecordArrival(int64_t generation, const MessageId& id, int64_t size_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation != generation_) return false;  // Begun before Reset().
  ++counts_.messages_received;
  counts_.bytes_received += size_bytes;
  auto [it, inserted] = keys_.try_emplace(id, 0);
  if (!inserted) ++counts_.duplicate_messages;
  // Saturates rather than overflowing into the committed bit.
  if ((it->second & ~kCommittedBit) != ~kCommittedBit) ++it->second;
  return true;
}

void IngestRecorder::RecordInvalid(int64_t generation, int64_t size_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation != generation_) return;
  ++counts_.invalid_messages;
  counts_.bytes_received += size_bytes;
}

void IngestRecorder::EndStream(Stream& stream, End end) {
  Require(!stream.ended_, "a stream ended twice");
  stream.ended_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (stream.generation_ != generation_) return;
  switch (end) {
    case End::kCompleted:
      ++counts_.streams_completed;
      CommitLocked(stream.ids_);
      break;
    case End::kUnauthenticated:
      ++counts_.streams_unauthenticated;
      [[fallthrough]];
    case End::kRefused:
      ++counts_.streams_refused;
      [[fallthrough]];
    case End::kFailed:
      ++counts_.streams_failed;
      break;
  }
  // The stream's arrivals are no longer needed; free them now rather than with the stream.
  std::vector<MessageId>().swap(stream.ids_);
}

void IngestRecorder::CommitLocked(const std::vector<MessageId>& ids) {
  for (const MessageId& id : ids) {
    auto it = keys_.find(id);
    Require(it != keys_.end(), "a committed key was never recorded as received");
    if (it->second & kCommittedBit) {
      ++counts_.committed_duplicates;
    } else {
      it->second |= kCommittedBit;
      ++counts_.committed_messages;
    }
  }
}

IngestStats IngestRecorder::Stats() const {
  IngestStats stats;
  int64_t cpu_ns_at_start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats = counts_;
    stats.unique_messages = static_cast<int64_t>(keys_.size());
    cpu_ns_at_start = cpu_ns_at_start_;
  }
  stats.uncommitted_messages = stats.unique_messages - stats.committed_messages;
  stats.sink_streams = sink_streams_.load(std::memory_order_relaxed);
  stats.sink_streams_refused = sink_streams_refused_.load(std::memory_order_relaxed);
  stats.sink_messages = sink_messages_.load(std::memory_order_relaxed);
  stats.sink_bytes = sink_bytes_.load(std::memory_order_relaxed);
  const int64_t messages = stats.messages_received + stats.invalid_messages + stats.sink_messages;
  if (messages > 0) {
    stats.server_cpu_ns_per_message =
        static_cast<double>(ProcessCpuNs() - cpu_ns_at_start) / static_cast<double>(messages);
  }
  return stats;
}

void IngestRecorder::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  counts_ = IngestStats();
  absl::flat_hash_map<MessageId, uint32_t>().swap(keys_);  // clear() would keep the memory.
  cpu_ns_at_start_ = ProcessCpuNs();
  sink_streams_.store(0, std::memory_order_relaxed);
  sink_streams_refused_.store(0, std::memory_order_relaxed);
  sink_messages_.store(0, std::memory_order_relaxed);
  sink_bytes_.store(0, std::memory_order_relaxed);
}

bool IngestRecorder::Committed(const MessageKey& key) const {
  const MessageId id = IdOf(key);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(id);
  return it != keys_.end() && (it->second & kCommittedBit) != 0;
}

int64_t IngestRecorder::ArrivalCount(const MessageKey& key) const {
  const MessageId id = IdOf(key);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(id);
  return it == keys_.end() ? 0 : it->second & ~kCommittedBit;
}

int64_t IngestRecorder::ProcessCpuNs() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const int64_t us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * int64_t{1000000} +
                     usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
  return us * 1000;
}

}  // namespace sift_stream::testing
