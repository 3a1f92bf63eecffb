// testing/ingest_recorder.h — what the fake Sift server received, and what it acknowledged.
//
// The claim under test is "nothing is ever lost": every message the client was told is safe
// (its stream ended OK) must be in the committed set. The recorder therefore keeps, per
// message key, how often it arrived and whether any stream that carried it ended OK:
//
//   received      a valid message arrived on some stream (counted per arrival)
//   committed     its key arrived on a stream that then ended OK — the server acknowledged it
//   uncommitted   its key arrived, but only on streams that failed (injected fault, validation
//                 error, client cancel, shutdown): the client must resend it
//   duplicate     an arrival of a key that had arrived before (resends after a failure are
//                 expected; committed_duplicates — resends of acknowledged data — are the
//                 at-least-once cost worth watching)
//
// A message's key is (ingestion_config_id, flow, timestamp, run_id). Keys are stored as a
// 96-bit hash (see MessageId below), 16 bytes per distinct key, so tests can push tens of
// millions of messages.
//
// Usage, per stream (one thread per stream; the recorder itself is thread-safe):
//
//   IngestRecorder::Stream stream = recorder.BeginStream();
//   stream.Received(key, size_bytes);   // each valid message
//   stream.Invalid(size_bytes);         // each message that failed validation
//   stream.Completed();                 // exactly one of Completed / Failed / Refused...
//
// Reset() forgets everything; streams begun before it no longer count.

#ifndef SIFT_STREAM_TESTING_INGEST_RECORDER_H_
#define SIFT_STREAM_TESTING_INGEST_RECORDER_H_

#include <mutex>
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace sift_stream::testing {

// The identity of one ingested message. Views: valid only for the call they are passed to.
struct MessageKey {
  absl::string_view ingestion_config_id;
  absl::string_view flow;
  int64_t timestamp_seconds = 0;
  int32_t timestamp_nanos = 0;
  absl::string_view run_id;
};

// Counters since construction or the last Reset(). A snapshot; see ToJson() for field names.
struct IngestStats {
  int64_t streams_opened = 0;
  int64_t streams_completed = 0;  // Ended OK.
  // Ended with an error: injected, validation, cancelled by the client, refused, shutdown.
  int64_t streams_failed = 0;
  int64_t streams_refused = 0;          // Failed before reading any message (also in failed).
  int64_t streams_unauthenticated = 0;  // Refused for a bad API key (also in refused).
  int64_t messages_received = 0;        // Valid messages, every arrival.
  int64_t bytes_received = 0;           // Serialized sizes, valid and invalid messages.
  int64_t invalid_messages = 0;
  int64_t unique_messages = 0;       // Distinct keys ever received.
  int64_t duplicate_messages = 0;    // Arrivals of an already received key.
  int64_t committed_messages = 0;    // Distinct keys received in a stream that ended OK.
  int64_t uncommitted_messages = 0;  // Distinct keys received, in no stream that ended OK.
  int64_t committed_duplicates = 0;  // Arrivals, in OK streams, of already committed keys.
  // Sink mode (SinkIngestService): counted without parsing, so no keys and no validation.
  int64_t sink_streams = 0;
  int64_t sink_streams_refused = 0;
  int64_t sink_messages = 0;
  int64_t sink_bytes = 0;
  // Process CPU time (getrusage(RUSAGE_SELF), user + system) since construction or Reset(),
  // divided by the messages received since (valid, invalid and sink). The whole process is
  // measured: with the server in-process, this includes the client's CPU too.
  double server_cpu_ns_per_message = 0;

  // One JSON object on one line; field names are the member names above and are stable.
  std::string ToJson() const;
};

class IngestRecorder {
 private:
  // A key's 96-bit hash: three words, so that a map entry (id + state) is 16 bytes with no
  // padding. With n distinct keys a collision has probability about n^2 / 2^97: 1e-14 for
  // n = 1e8, far below any other way a test can go wrong.
  using MessageId = std::array<uint32_t, 3>;

 public:
  // One ingest stream's view of the recorder. Movable, not copyable; used by one thread;
  // must not outlive the recorder.
  // A stream destroyed without an ending counts as failed (so an early return cannot make
  // the stream's keys look committed).
  class Stream {
   public:
    Stream(Stream&& other) noexcept;
    Stream& operator=(Stream&&) = delete;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream();

    void Received(const MessageKey& key, int64_t size_bytes);
    void Invalid(int64_t size_bytes);

    // Exactly one of these ends the stream; later calls are bugs (asserted).
    void Completed();  // Ended OK: the stream's keys become committed.
    void Failed();
    void Refused();  // Turned away before reading (outage, rejection): failed and refused.
    void RefusedUnauthenticated();

   private:
    friend class IngestRecorder;
    Stream(IngestRecorder* recorder, int64_t generation)
        : recorder_(recorder), generation_(generation) {}

    IngestRecorder* recorder_;
    int64_t generation_;
    std::vector<MessageId> ids_;  // Arrivals on this stream, in order.
    bool ended_ = false;
  };

  IngestRecorder();

  Stream BeginStream();

  // Sink mode: lock-free counters, safe from any thread.
  void SinkStreamOpened() { sink_streams_.fetch_add(1, std::memory_order_relaxed); }
  void SinkStreamRefused() { sink_streams_refused_.fetch_add(1, std::memory_order_relaxed); }
  void SinkReceived(int64_t size_bytes) {
    sink_messages_.fetch_add(1, std::memory_order_relaxed);
    sink_bytes_.fetch_add(size_bytes, std::memory_order_relaxed);
  }

  IngestStats Stats() const;
  // Forgets every key and counter and restarts the CPU clock. Streams begun before are
  // ignored from now on, whatever they report.
  void Reset();

  // For tests: was `key` received on a stream that ended OK; how often did it arrive.
  bool Committed(const MessageKey& key) const;
  int64_t ArrivalCount(const MessageKey& key) const;

 private:
  // Low 31 bits: arrivals; top bit: committed.
  static constexpr uint32_t kCommittedBit = 0x80000000u;

  enum class End { kCompleted, kFailed, kRefused, kUnauthenticated };

  static MessageId IdOf(const MessageKey& key);
  static int64_t ProcessCpuNs();

  // Each returns without counting if `generation` predates the last Reset().
  bool RecordArrival(int64_t generation, const MessageId& id, int64_t size_bytes);
  void RecordInvalid(int64_t generation, int64_t size_bytes);
  void EndStream(Stream& stream, End end);
  void CommitLocked(const std::vector<MessageId>& ids) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable std::mutex mu_;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  IngestStats counts_ ABSL_GUARDED_BY(mu_);  // All but the derived and sink fields.
  absl::flat_hash_map<MessageId, uint32_t> keys_ ABSL_GUARDED_BY(mu_);
  int64_t cpu_ns_at_start_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<int64_t> sink_streams_{0};
  std::atomic<int64_t> sink_streams_refused_{0};
  std::atomic<int64_t> sink_messages_{0};
  std::atomic<int64_t> sink_bytes_{0};
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_INGEST_RECORDER_H_
