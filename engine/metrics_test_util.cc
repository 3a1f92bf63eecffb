#include "engine/metrics_test_util.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace sift_stream::engine::testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& arg : argv) out.push_back(const_cast<char*>(arg.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", getpid(), "-",
                      absl::ToUnixNanos(absl::Now()));
}

// posix_spawn with stdin from `in_path` and stdout+stderr to `out_path`.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& in_path,
                            const std::string& out_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args = Argv(argv);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return absl::InternalError(absl::StrCat("spawn ", argv[0], ": errno ", err));
  return pid;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(absl::string_view host_port, absl::string_view path) {
  static const bool initialized = mg_init_library(0) != 0;
  (void)initialized;
  const size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("not host:port: ", host_port));
  }
  const std::string host(host_port.substr(0, colon));
  const std::string target(path);
  char error[256] = "";
  mg_connection* connection =
      mg_download(host.c_str(), port, 0, error, sizeof(error),
                  "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", target.c_str(),
                  host.c_str());
  if (connection == nullptr) {
    return absl::UnavailableError(absl::StrCat("GET ", host_port, path, ": ", error));
  }
  HttpResponse response;
  response.code = mg_get_response_info(connection)->status_code;
  if (const char* type = mg_get_header(connection, "Content-Type")) response.content_type = type;
  char buffer[16384];
  for (int n; (n = mg_read(connection, buffer, sizeof(buffer))) > 0;) {
    response.body.append(buffer, static_cast<size_t>(n));
  }
  mg_close_connection(connection);
  return response;
}

std::optional<double> SampleValue(absl::string_view text, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    double value = 0;
    if (fields.size() == 2 && fields[0] == name && absl::SimpleAtod(fields[1], &value)) {
      return value;
    }
  }
  return std::nullopt;
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool Executable(const char* path) { return access(path, X_OK) == 0; }

absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::string_view input) {
  const std::string in_path = TempPath("stdin");
  const std::string out_path = TempPath("output");
  std::ofstream(in_path) << input;
  absl::StatusOr<pid_t> pid = Spawn(argv, in_path, out_path);
  if (!pid.ok()) return pid.status();
  int status = 0;
  if (waitpid(*pid, &status, 0) != *pid) return absl::InternalError("waitpid failed");
  ProgramResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  std::stringstream output;
  output << std::ifstream(out_path).rdbuf();
  result.output = output.str();
  return result;
}

absl::StatusOr<BackgroundProgram> BackgroundProgram::Start(const std::vector<std::string>& argv,
                                                           const std::string& log_path) {
  absl::StatusOr<pid_t> pid = Spawn(argv, "/dev/null", log_path);
  if (!pid.ok()) return pid.status();
  return BackgroundProgram(*pid);
}

bool BackgroundProgram::running() {
  if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

BackgroundProgram::~BackgroundProgram() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  // Prometheus shuts down in well under a second; never hang the test on it.
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    absl::SleepFor(absl::Milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

}  // namespace sift_stream::engine::testing
