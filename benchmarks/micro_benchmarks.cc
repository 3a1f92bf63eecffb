// micro_benchmarks — Google Benchmark for the pieces every message passes through, so that a
// shortfall in tools/bench_report can be pinned on one of them (issue #7).
//
//   bazel run -c opt //benchmarks:micro_benchmarks -- [--dir=D] [--benchmark_filter=...]
//
// Per message (142-byte request, the size of 10 doubles with the fixed config id): request
// build (validated, engine/request_builder.h) and serialize for 1/10/100/1000 channels; PBFS
// chunk encoding and decoding (io/pbfs_*); CRC-32 (io/crc32.h) at the sizes the format uses;
// the O_DIRECT writer (io/append_file.h through an io_uring Ring) into --dir (default
// $TEST_TMPDIR or /tmp), which should be the backup directory being judged. The producer →
// reactor queue has its own benchmark: //engine:message_queue_benchmark.
//
// Debian's libbenchmark is a debug build ("Library was built as DEBUG"): that is the harness,
// not the code measured. benchmarks:micro_benchmarks_smoke_test runs everything once, tiny.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "engine/request_builder.h"
#include "io/append_file.h"
#include "io/crc32.h"
#include "io/pbfs_encoder.h"
#include "io/pbfs_reader.h"
#include "io/ring.h"
#include "proto/sift/ingest/v1/ingest.pb.h"

namespace sift_stream {
namespace {

using sift::ingest::v1::IngestWithConfigDataStreamRequest;

constexpr char kConfigId[] = "00000000-0000-4000-8000-000000000bec";
constexpr size_t kChunkTargetBytes = 256 << 10;  // Where the backup writer seals a chunk.

std::string& BenchDir() {
  static std::string dir = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    return std::string(tmp != nullptr ? tmp : "/tmp");
  }();
  return dir;
}

sift::ingestion_configs::v2::FlowConfig DoubleFlow(int channels) {
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("bench");
  for (int c = 0; c < channels; ++c) {
    auto* channel = flow.add_channels();
    channel->set_name(absl::StrCat("c", c));
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  }
  return flow;
}

// The serialized request bench sends for `channels` doubles: the payload of every io benchmark.
std::string SampleMessage(int channels) {
  engine::RequestBuilder builder(kConfigId, "", {DoubleFlow(channels)});
  std::vector<engine::ChannelValue> values(channels, engine::ChannelValue::Double(1.25));
  IngestWithConfigDataStreamRequest request;
  if (!builder.Build("bench", absl::Now(), values, &request).ok()) std::abort();
  return request.SerializeAsString();
}

// --- Request build + serialize (the producer's work in Send) --------------------------------

void BM_RequestBuild(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  engine::RequestBuilder builder(kConfigId, "", {DoubleFlow(channels)});
  std::vector<engine::ChannelValue> values(channels, engine::ChannelValue::Double(1.25));
  IngestWithConfigDataStreamRequest request;  // Reused, as a producer thread does.
  const absl::Time t0 = absl::Now();
  int64_t i = 0;
  for (auto _ : state) {
    if (!builder.Build("bench", t0 + absl::Microseconds(++i), values, &request).ok()) {
      state.SkipWithError("Build failed");
      break;
    }
    benchmark::DoNotOptimize(request);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RequestBuild)->Arg(10);

void BM_RequestBuildSerialize(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  engine::RequestBuilder builder(kConfigId, "", {DoubleFlow(channels)});
  std::vector<engine::ChannelValue> values(channels, engine::ChannelValue::Double(1.25));
  IngestWithConfigDataStreamRequest request;
  std::string bytes;
  const absl::Time t0 = absl::Now();
  int64_t i = 0;
  int64_t total = 0;
  for (auto _ : state) {
    if (!builder.Build("bench", t0 + absl::Microseconds(++i), values, &request).ok() ||
        !request.SerializeToString(&bytes)) {
      state.SkipWithError("Build or serialize failed");
      break;
    }
    total += static_cast<int64_t>(bytes.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(total);
}
BENCHMARK(BM_RequestBuildSerialize)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

// Serialization alone, to split the row above between building and encoding.
void BM_RequestSerialize(benchmark::State& state) {
  engine::RequestBuilder builder(kConfigId, "", {DoubleFlow(static_cast<int>(state.range(0)))});
  std::vector<engine::ChannelValue> values(state.range(0), engine::ChannelValue::Double(1.25));
  IngestWithConfigDataStreamRequest request;
  if (!builder.Build("bench", absl::Now(), values, &request).ok()) std::abort();
  std::string bytes;
  for (auto _ : state) {
    request.SerializeToString(&bytes);
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RequestSerialize)->Arg(10);

// --- PBFS -----------------------------------------------------------------------------------

// Per message: framing copy into the chunk, plus the CRC and header at each seal.
void BM_PbfsEncode(benchmark::State& state) {
  const std::string message = SampleMessage(static_cast<int>(state.range(0)));
  io::PbfsChunkEncoder encoder;
  for (auto _ : state) {
    if (!encoder.Add(message).ok()) std::abort();
    if (encoder.size_bytes() >= kChunkTargetBytes) {
      benchmark::DoNotOptimize(encoder.Seal().data());
      encoder.Reset();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(message.size()));
}
BENCHMARK(BM_PbfsEncode)->Arg(10)->Arg(1000);

// 16 MiB of 256 KiB chunks, as a backup file holds them.
std::string EncodedFile(const std::string& message, size_t total_bytes) {
  std::string file;
  io::PbfsChunkEncoder encoder;
  while (file.size() < total_bytes) {
    if (!encoder.Add(message).ok()) std::abort();
    if (encoder.size_bytes() >= kChunkTargetBytes) {
      absl::StrAppend(&file, encoder.Seal());
      encoder.Reset();
    }
  }
  return file;
}

int64_t ReadAll(io::PbfsReader& reader) {
  absl::string_view message;
  int64_t count = 0;
  while (reader.Next(&message)) ++count;
  return count;
}

void BM_PbfsDecodeMemory(benchmark::State& state) {
  const std::string message = SampleMessage(10);
  const std::string file = EncodedFile(message, 16 << 20);
  int64_t messages = 0;
  for (auto _ : state) {
    auto reader = io::PbfsReader::FromBytes(file, io::PbfsReadMode::kSalvage);
    messages += ReadAll(*reader);
  }
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(file.size()));
}
BENCHMARK(BM_PbfsDecodeMemory)->Unit(benchmark::kMillisecond);

// Through pread on a real file (page cache warm): what re-ingestion reads with.
void BM_PbfsDecodeFile(benchmark::State& state) {
  const std::string file = EncodedFile(SampleMessage(10), 16 << 20);
  const std::string path = absl::StrCat(BenchDir(), "/micro_decode_", getpid(), ".pbfs");
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr || std::fwrite(file.data(), 1, file.size(), out) != file.size()) {
    state.SkipWithError("cannot write the sample file");
    return;
  }
  std::fclose(out);
  int64_t messages = 0;
  for (auto _ : state) {
    auto reader = io::PbfsReader::OpenFile(path, io::PbfsReadMode::kSalvage);
    if (!reader.ok()) {
      state.SkipWithError("cannot open the sample file");
      break;
    }
    messages += ReadAll(**reader);
  }
  unlink(path.c_str());
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(file.size()));
}
BENCHMARK(BM_PbfsDecodeFile)->Unit(benchmark::kMillisecond);

// --- CRC-32 ---------------------------------------------------------------------------------

void BM_Crc32(benchmark::State& state) {
  const std::string bytes(static_cast<size_t>(state.range(0)), 'c');
  for (auto _ : state) benchmark::DoNotOptimize(io::Crc32(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32)->Arg(142)->Arg(4 << 10)->Arg(256 << 10)->Arg(1 << 20);

// --- The O_DIRECT writer --------------------------------------------------------------------

// Appends `chunk_bytes` pieces (a sealed chunk each) through AppendFile's 4 × 1 MiB buffers,
// rotating files at 64 MiB like the backup manager does at its limit; bytes/s is the number
// to hold against `dd oflag=direct` into the same directory.
class AppendFileWriter {
 public:
  explicit AppendFileWriter(io::Ring& ring) : ring_(ring) {}
  ~AppendFileWriter() { (void)CloseCurrent(); }

  absl::Status Append(absl::string_view bytes) {
    if (file_ == nullptr || file_->logical_size() >= kFileBytes) {
      if (absl::Status closed = CloseCurrent(); !closed.ok()) return closed;
      absl::StatusOr<std::unique_ptr<io::AppendFile>> created = io::AppendFile::Create(
          ring_, absl::StrCat(BenchDir(), "/micro_append_", getpid(), "_", files_++, ".pbfs"),
          {}, {});
      if (!created.ok()) return created.status();
      file_ = *std::move(created);
      direct_ = file_->direct_io();
    }
    absl::Status appended;
    while (absl::IsUnavailable(appended = file_->Append(bytes))) {
      if (absl::StatusOr<int> ran = ring_.RunOnce(absl::Milliseconds(100)); !ran.ok()) {
        return ran.status();
      }
    }
    return appended;
  }

  // Waits for every write, closes and deletes the file: the time to drain counts.
  absl::Status CloseCurrent() {
    if (file_ == nullptr) return absl::OkStatus();
    file_->Flush();
    absl::Status done = io::RunUntil(ring_, [&] { return file_->idle(); }, absl::Seconds(60));
    const std::string path = file_->path();
    absl::Status closed = file_->Close();
    file_.reset();
    unlink(path.c_str());
    return done.ok() ? closed : done;
  }

  bool direct() const { return direct_; }

 private:
  static constexpr uint64_t kFileBytes = uint64_t{64} << 20;
  io::Ring& ring_;
  std::unique_ptr<io::AppendFile> file_;
  int files_ = 0;
  bool direct_ = false;
};

void BM_AppendFileODirect(benchmark::State& state) {
  absl::StatusOr<std::unique_ptr<io::Ring>> ring = io::Ring::Create();
  if (!ring.ok()) {
    state.SkipWithError("io_uring unavailable");
    return;
  }
  const std::string chunk(static_cast<size_t>(state.range(0)), 'd');
  AppendFileWriter writer(**ring);
  for (auto _ : state) {
    if (absl::Status s = writer.Append(chunk); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
  }
  if (absl::Status s = writer.CloseCurrent(); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
  }
  state.counters["direct_io"] = writer.direct() ? 1 : 0;
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AppendFileODirect)->Arg(256 << 10)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sift_stream

// Google Benchmark's main, plus --dir=D for the file benchmarks.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (absl::StartsWith(arg, "--dir=")) {
      sift_stream::BenchDir() = std::string(arg.substr(6));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
