// Runs the fake_sift_server binary as a user's script would and checks its contract: the port
// alone on the first stdout line, the stats file rewritten with valid JSON, fault flags that
// take effect, a graceful exit on SIGTERM, and a clear refusal of bad flags.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "proto/sift/ingest/v1/ingest.grpc.pb.h"
#include "proto/sift/ingestion_configs/v2/ingestion_configs.grpc.pb.h"

extern char** environ;

namespace sift_stream::testing {
namespace {

namespace configs = sift::ingestion_configs::v2;

std::string BinaryPath() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/sift_stream/testing/fake_sift_server");
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The server as a child process, its stdout on a pipe.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> flags) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<std::string> args = {BinaryPath()};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) fclose(out_);
  }

  // The first stdout line, or "" at end of output.
  std::string FirstLine() {
    char line[64] = {};
    if (fgets(line, sizeof(line), out_) == nullptr) return "";
    return line;
  }

  // Waits up to `timeout` for the exit; returns the exit status or -1.
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  FILE* out_ = nullptr;
};

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer k1");
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

// Registers a one-channel flow and streams `count` messages; returns Finish's status.
grpc::Status StreamTo(int port, int count) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  auto config_stub = configs::IngestionConfigService::NewStub(channel);
  configs::CreateIngestionConfigRequest create;
  create.set_asset_name("bench");
  configs::FlowConfig* flow = create.add_flows();
  flow->set_name("f");
  flow->add_channels()->set_name("v");
  flow->mutable_channels(0)->set_data_type(sift::common::type::v1::CHANNEL_DATA_TYPE_INT_64);
  configs::CreateIngestionConfigResponse created;
  grpc::Status status = config_stub->CreateIngestionConfig(Context().get(), create, &created);
  if (!status.ok()) return status;

  auto ingest = sift::ingest::v1::IngestService::NewStub(channel);
  auto context = Context();
  sift::ingest::v1::IngestWithConfigDataStreamResponse response;
  auto writer = ingest->IngestWithConfigDataStream(context.get(), &response);
  for (int i = 0; i < count; ++i) {
    sift::ingest::v1::IngestWithConfigDataStreamRequest request;
    request.set_ingestion_config_id(created.ingestion_config().ingestion_config_id());
    request.set_flow("f");
    request.mutable_timestamp()->set_seconds(i);
    request.add_channel_values()->set_int64(i);
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

bool WaitForFileToContain(const std::string& path, const std::string& text) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (ReadFile(path).find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

TEST(FakeSiftServerTest, PrintsPortFirstKeepsJsonStatsAndExitsCleanlyOnSigterm) {
  const std::string stats = TempPath("stats.json");
  ServerProcess server({"--port=0", "--stats_file=" + stats, "--stats_interval_ms=20",
                        "--api_keys=k1,k2"});
  const std::string line = server.FirstLine();
  ASSERT_FALSE(line.empty()) << "no output";
  ASSERT_EQ(line.back(), '\n');
  const int port = std::atoi(line.c_str());
  ASSERT_GT(port, 0) << "first line was: " << line;
  EXPECT_EQ(absl::StrCat(port, "\n"), line) << "the first line must be the port alone";

  ASSERT_TRUE(StreamTo(port, 100).ok());
  ASSERT_TRUE(WaitForFileToContain(stats, "\"committed_messages\":100")) << ReadFile(stats);
  if (std::system("command -v python3 >/dev/null") == 0) {
    const std::string check =
        absl::StrCat("python3 -c 'import json,sys; json.load(open(sys.argv[1]))' ", stats);
    EXPECT_EQ(std::system(check.c_str()), 0) << "not valid JSON: " << ReadFile(stats);
  }
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 0);
}

TEST(FakeSiftServerTest, FaultFlagsTakeEffect) {
  ServerProcess server({"--port=0", "--reject_all_code=PERMISSION_DENIED"});
  const int port = std::atoi(server.FirstLine().c_str());
  ASSERT_GT(port, 0);
  EXPECT_EQ(StreamTo(port, 1).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 0);
}

TEST(FakeSiftServerTest, OutageFlagsRefuseStreamsWithUnavailable) {
  ServerProcess server({"--port=0", "--outage_after_ms=0", "--outage_for_ms=60000"});
  const int port = std::atoi(server.FirstLine().c_str());
  ASSERT_GT(port, 0);
  absl::SleepFor(absl::Milliseconds(100));  // The outage starts on the server's own clock.
  EXPECT_EQ(StreamTo(port, 1).error_code(), grpc::StatusCode::UNAVAILABLE);
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 0);
}

TEST(FakeSiftServerTest, RestartFlagsBringTheServerBackOnTheSamePort) {
  const std::string stats = TempPath("restart.json");
  ServerProcess server({"--port=0", "--stats_file=" + stats, "--stats_interval_ms=20",
                        "--restart_after_ms=100", "--restart_down_ms=200"});
  const int port = std::atoi(server.FirstLine().c_str());
  ASSERT_GT(port, 0);
  ASSERT_TRUE(WaitForFileToContain(stats, "\"restarts\":1")) << ReadFile(stats);
  EXPECT_TRUE(StreamTo(port, 10).ok());
  ASSERT_TRUE(WaitForFileToContain(stats, "\"committed_messages\":10")) << ReadFile(stats);
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 0);
}

TEST(FakeSiftServerTest, UnknownStatusCodeFlagIsRefused) {
  ServerProcess server({"--port=0", "--end_stream_code=SOMETIMES"});
  EXPECT_EQ(server.FirstLine(), "");
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 2);
}

TEST(FakeSiftServerTest, DurationFlagEndsTheServerByItself) {
  const std::string stats = TempPath("duration.json");
  ServerProcess server({"--port=0", "--duration_ms=300", "--stats_file=" + stats});
  ASSERT_GT(std::atoi(server.FirstLine().c_str()), 0);
  EXPECT_EQ(server.Wait(absl::Seconds(10)), 0);
  EXPECT_NE(ReadFile(stats).find("\"streams_opened\":0"), std::string::npos) << ReadFile(stats);
}

}  // namespace
}  // namespace sift_stream::testing
