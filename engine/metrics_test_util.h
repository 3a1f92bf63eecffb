// engine/metrics_test_util.h — what the metrics tests need around HTTP and outside programs.
//
// A loopback HTTP GET (CivetWeb's client API: the tests speak real HTTP to the server, but
// parse no HTTP themselves), a sample value out of the Prometheus text format, a free port,
// and running a program (promtool, prometheus) with its output captured. Test-only.

#ifndef SIFT_STREAM_ENGINE_METRICS_TEST_UTIL_H_
#define SIFT_STREAM_ENGINE_METRICS_TEST_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sift_stream::engine::testing {

struct HttpResponse {
  int code = 0;
  std::string content_type;
  std::string body;
};

// GET http://<host_port><path>, e.g. HttpGet("127.0.0.1:9464", "/metrics").
absl::StatusOr<HttpResponse> HttpGet(absl::string_view host_port, absl::string_view path);

// The value of the unlabelled sample `name` in Prometheus text, if present.
std::optional<double> SampleValue(absl::string_view text, absl::string_view name);

// A loopback TCP port nobody listens on right now (it may be taken again before use).
int FreeLoopbackPort();

// True if `path` exists and is executable.
bool Executable(const char* path);

struct ProgramResult {
  int exit_code = -1;   // -1: killed by a signal or not run.
  std::string output;   // stdout and stderr, interleaved.
};

// Runs argv[0] with `input` on its stdin and waits for it to exit.
absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::string_view input);

// A program left running in the background; killed (SIGTERM, then SIGKILL) when destroyed.
class BackgroundProgram {
 public:
  static absl::StatusOr<BackgroundProgram> Start(const std::vector<std::string>& argv,
                                                 const std::string& log_path);
  BackgroundProgram(BackgroundProgram&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  BackgroundProgram& operator=(BackgroundProgram&&) = delete;
  ~BackgroundProgram();
  // Reaps the program if it exited.
  bool running();

 private:
  explicit BackgroundProgram(int pid) : pid_(pid) {}
  int pid_ = -1;
};

}  // namespace sift_stream::engine::testing

#endif  // SIFT_STREAM_ENGINE_METRICS_TEST_UTIL_H_
