// pbfs_test_files — writes the PBFS files tools/pbfs_test.sh runs `pbfs` on. Test-only.
//
//   pbfs_test_files --dir=D [--register_at=HOST:PORT --api_key=K]
//
// With --register_at, first registers an ingestion config (flows "imu": 3 doubles, "gps": 2
// doubles) at that (fake) Sift, so that the messages are valid there and re-ingesting them
// commits them; otherwise the messages use a fixed config id. Writes:
//
//   D/good/a.pbfs         1000 messages (imu 700, gps 300), 10 chunks, by our encoder
//   D/good/b.pbfs         3 messages in the byte layout of ../shared/spec/pbfs.md, built
//                         here by hand with zlib's crc32 (not our encoder): 2 messages, an
//                         empty chunk, 1 message — as another Sift client could write it
//   D/good/notes.txt      not a .pbfs file: a directory argument must skip it
//   D/bad/truncated.pbfs  a.pbfs cut in the middle of its last chunk (a torn tail)
//   D/bad/flipped.pbfs    a.pbfs with one bit flipped in its 3rd chunk (corrupt)
//   D/bad/garbage.pbfs    an intact chunk whose message does not parse
//   D/text.txt            plain text: not a PBFS file at all
//   D/empty/              a directory with no .pbfs file
//
// Message i (flow by i % 10 < 7 ? imu : gps) has timestamp 2024-01-01T00:00:00Z + i ms.
// Prints the chunk offsets of a.pbfs on stdout, one per line, for the test's offset checks.

#include <sys/stat.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "io/pbfs_encoder.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"

DEFINE_string(dir, "", "where to write the files (must exist)");
DEFINE_string(register_at, "", "a (fake) Sift to register the ingestion config at");
DEFINE_string(api_key, "", "API key for --register_at");

namespace {

using sift::ingest::v1::IngestWithConfigDataStreamRequest;
namespace configs = sift::ingestion_configs::v2;

constexpr int64_t kStartSeconds = 1704067200;  // 2024-01-01T00:00:00Z

void AddFlow(configs::CreateIngestionConfigRequest& request, const std::string& name,
             int channels) {
  configs::FlowConfig* flow = request.add_flows();
  flow->set_name(name);
  for (int c = 0; c < channels; ++c) {
    auto* channel = flow->add_channels();
    channel->set_name(absl::StrCat(name, c));
    channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);
  }
}

// The config id the messages carry: registered at --register_at, or a fixed one.
std::string ConfigId() {
  if (FLAGS_register_at.empty()) return "00000000-0000-4000-8000-0000000000fb";
  auto stub = configs::IngestionConfigService::NewStub(
      grpc::CreateChannel(FLAGS_register_at, grpc::InsecureChannelCredentials()));
  configs::CreateIngestionConfigRequest request;
  request.set_asset_name("pbfs-test");
  request.set_client_key("pbfs-test");
  AddFlow(request, "imu", 3);
  AddFlow(request, "gps", 2);
  configs::CreateIngestionConfigResponse response;
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + FLAGS_api_key);
  grpc::Status status = stub->CreateIngestionConfig(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "pbfs_test_files: registering failed: %s\n",
                 status.error_message().c_str());
    std::exit(1);
  }
  return response.ingestion_config().ingestion_config_id();
}

std::string Message(const std::string& config_id, int64_t i) {
  IngestWithConfigDataStreamRequest request;
  const bool imu = i % 10 < 7;
  request.set_ingestion_config_id(config_id);
  request.set_flow(imu ? "imu" : "gps");
  request.mutable_timestamp()->set_seconds(kStartSeconds + i / 1000);
  request.mutable_timestamp()->set_nanos(static_cast<int32_t>(i % 1000) * 1000000);
  for (int c = 0; c < (imu ? 3 : 2); ++c) request.add_channel_values()->set_double_(i + c);
  return request.SerializeAsString();
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "pbfs_test_files: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// a.pbfs by our encoder; `offsets` receives where each chunk starts.
std::string EncodedFile(const std::string& config_id, std::vector<size_t>* offsets) {
  std::string file;
  sift_stream::io::PbfsChunkEncoder encoder;
  for (int64_t i = 0; i < 1000; ++i) {
    if (!encoder.Add(Message(config_id, i)).ok()) std::exit(1);
    if (encoder.message_count() == 100) {
      offsets->push_back(file.size());
      absl::StrAppend(&file, encoder.Seal());
      encoder.Reset();
    }
  }
  return file;
}

// Little-endian, byte by byte, as the spec lays it out.
void PutLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

// One chunk per ../shared/spec/pbfs.md, without io/: CRC-32 (zlib) of the 8-byte length and
// the frames, then that length, then the frames (4-byte length + message each).
std::string HandMadeChunk(const std::vector<std::string>& messages) {
  std::string frames;
  for (const std::string& message : messages) {
    PutLittleEndian(frames, message.size(), 4);
    frames += message;
  }
  std::string covered;
  PutLittleEndian(covered, frames.size(), 8);
  covered += frames;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(covered.data()),
                          static_cast<uInt>(covered.size()));
  std::string chunk;
  PutLittleEndian(chunk, crc, 4);
  return chunk + covered;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_dir.empty()) {
    std::fprintf(stderr, "pbfs_test_files: --dir is required\n");
    return 2;
  }
  const std::string config_id = ConfigId();
  const std::string& d = FLAGS_dir;
  for (const char* sub : {"/good", "/bad", "/empty"}) mkdir((d + sub).c_str(), 0700);

  std::vector<size_t> offsets;
  const std::string a = EncodedFile(config_id, &offsets);
  Write(d + "/good/a.pbfs", a);
  Write(d + "/good/b.pbfs", HandMadeChunk({Message(config_id, 1000), Message(config_id, 1001)}) +
                                HandMadeChunk({}) + HandMadeChunk({Message(config_id, 1002)}));
  Write(d + "/good/notes.txt", "not a backup file\n");
  Write(d + "/empty/notes.txt", "nothing here\n");
  Write(d + "/bad/truncated.pbfs", a.substr(0, offsets.back() + 100));
  std::string flipped = a;
  flipped[offsets[2] + 12 + 50] ^= 0x10;
  Write(d + "/bad/flipped.pbfs", flipped);
  Write(d + "/bad/garbage.pbfs", HandMadeChunk({Message(config_id, 2000), "\xff\xff\xff\xff"}));
  Write(d + "/text.txt", "this is plain text, not a PBFS backup file at all\n");
  for (size_t offset : offsets) std::printf("%zu\n", offset);
  return 0;
}
