// hello_stream — the smallest program on sift_stream's public API: one flow, a hundred
// messages, Finish. `hello_stream HOST:PORT API_KEY BACKUP_DIR`; exit 0 once Sift (or the fake
// server) acknowledged every message. It exists to prove that a separate workspace can build
// and link against @sift_stream//engine:sift_stream.

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/sift_stream.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.pb.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: hello_stream HOST:PORT API_KEY BACKUP_DIR\n");
    return 2;
  }
  sift::ingestion_configs::v2::FlowConfig flow;
  flow.set_name("hello");
  auto* channel = flow.add_channels();
  channel->set_name("value");
  channel->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_DOUBLE);

  sift_stream::IngestionConfigSpec config;
  config.asset_name = "bazel-consumer";
  config.client_key = "bazel-consumer-hello-v1";
  config.flows = {flow};
  sift_stream::DiskBackupPolicy backups;
  backups.backup_dir = argv[3];
  auto stream = sift_stream::SiftStreamBuilder()
                    .Uri(argv[1])
                    .ApiKey(argv[2])
                    .Tls(false)  // The fake server is plaintext; real Sift needs Tls(true).
                    .IngestionConfig(config)
                    .Backups(backups)
                    .Build();
  if (!stream.ok()) {
    std::fprintf(stderr, "hello_stream: %s\n", stream.status().ToString().c_str());
    return 1;
  }
  const absl::Time start = absl::Now();
  for (int i = 0; i < 100; ++i) {
    absl::Status sent = (*stream)->Send("hello", start + absl::Milliseconds(i),
                                        {sift_stream::ChannelValue::Double(i)});
    if (!sent.ok()) {
      std::fprintf(stderr, "hello_stream: %s\n", sent.ToString().c_str());
      return 1;
    }
  }
  absl::Status finished = (*stream)->Finish(absl::Seconds(30));
  std::printf("hello_stream: 100 messages, finish: %s\n", finished.ToString().c_str());
  return finished.ok() ? 0 : 1;
}
