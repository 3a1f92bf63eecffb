#include "engine/metrics_http.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/sift_stream.h"

namespace sift_stream::engine {
namespace {

// Threads CivetWeb keeps for requests. Connections are closed after each response, so a few
// threads serve any number of scrapers and browsers; a slow client holds one for at most
// kRequestTimeoutMs.
constexpr char kThreads[] = "4";
constexpr char kRequestTimeoutMs[] = "5000";

absl::Status BadAddress(absl::string_view host_port, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "ServeMetrics(\"", host_port, "\"): ", why,
      "; expected \"ip:port\" such as \"127.0.0.1:9464\" (port 0 picks a free port)"));
}

// A body with the headers every answer carries: pages are live, never cached, and the
// connection closes so that no idle client holds a CivetWeb thread.
int Respond(mg_connection* connection, int code, absl::string_view content_type,
            absl::string_view body) {
  const mg_request_info* request = mg_get_request_info(connection);
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            code, mg_get_response_code_text(connection, code),
            static_cast<int>(content_type.size()), content_type.data(), body.size());
  if (std::strcmp(request->request_method, "HEAD") != 0) {
    mg_write(connection, body.data(), body.size());
  }
  return code;
}

// Only reads are served; anything else is refused before any work is done.
bool IsRead(mg_connection* connection) {
  const char* method = mg_get_request_info(connection)->request_method;
  return std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
}

int NotReady(mg_connection* connection) {
  return Respond(connection, 503, "text/plain; charset=utf-8", "the stream is starting\n");
}

// Opens and closes one TCP connection to `address`: wakes CivetWeb's listener.
void Poke(const ListenAddress& address, int port) {
  const int fd = socket(address.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_storage storage{};
  socklen_t length = 0;
  // A server on every interface is reached on loopback.
  const bool any = address.host == "0.0.0.0" || address.host == "::";
  if (address.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, any ? "::1" : address.host.c_str(), &a->sin6_addr);
    length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, any ? "127.0.0.1" : address.host.c_str(), &a->sin_addr);
    length = sizeof(*a);
  }
  (void)connect(fd, reinterpret_cast<sockaddr*>(&storage), length);
  close(fd);
}

int OnLogMessage(const mg_connection*, const char* message) {
  // Bad requests from scanners can come in floods.
  LOG_EVERY_T(WARNING, 10) << "sift_stream metrics server: " << message;
  return 1;  // Handled: CivetWeb writes nothing itself.
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) return BadAddress(host_port, "no port");
  absl::string_view host = host_port.substr(0, colon);
  const absl::string_view port_text = host_port.substr(colon + 1);
  ListenAddress address;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &address.port) || address.port > 65535) {
    return BadAddress(host_port, "the port must be a number from 0 to 65535");
  }
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
    address.ipv6 = true;
  }
  address.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  unsigned char parsed[16];
  if (inet_pton(address.ipv6 ? AF_INET6 : AF_INET, address.host.c_str(), parsed) != 1) {
    return BadAddress(host_port, address.ipv6 ? "not an IPv6 address"
                                              : "the host must be an IPv4 address, "
                                                "\"localhost\" or [an IPv6 address]");
  }
  return address;
}

BackupDirUsage MeasureBackupDir(const std::string& dir) {
  BackupDirUsage usage;
  if (dir.empty()) return usage;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return usage;
  usage.known = true;
  while (const dirent* entry = readdir(d)) {
    if (!absl::EndsWith(entry->d_name, ".pbfs")) continue;
    struct stat st;
    // A file deleted between readdir and stat is simply not counted.
    if (fstatat(dirfd(d), entry->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
    ++usage.files;
    usage.bytes += static_cast<uint64_t>(st.st_size);
  }
  closedir(d);
  return usage;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    absl::string_view host_port, std::string backup_dir, bool memory_backups) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(host_port);
  if (!address.ok()) return address.status();
  static std::once_flag library;
  std::call_once(library, [] { mg_init_library(0); });
  const std::string ports = address->ipv6 ? absl::StrCat("[", address->host, "]:", address->port)
                                          : absl::StrCat(address->host, ":", address->port);
  const char* options[] = {"listening_ports", ports.c_str(),
                           "num_threads", kThreads,
                           "request_timeout_ms", kRequestTimeoutMs,
                           "enable_keep_alive", "no",
                           nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = OnLogMessage;
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(std::move(backup_dir), memory_backups));
  mg_init_data init = {&callbacks, server.get(), options};
  char error_text[256] = "";
  mg_error_data error = {nullptr, error_text, sizeof(error_text)};
  // CivetWeb ignores SIGCHLD process-wide on start (for its CGI support, unused here); that
  // would silently break waitpid() in the program linking us, so put it back.
  struct sigaction sigchld;
  sigaction(SIGCHLD, nullptr, &sigchld);
  server->context_ = mg_start2(&init, &error);
  sigaction(SIGCHLD, &sigchld, nullptr);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("ServeMetrics(\"", host_port,
                                               "\"): cannot listen: ", error_text));
  }
  mg_server_port bound;
  if (mg_get_server_ports(server->context_, 1, &bound) != 1) {
    return absl::InternalError("ServeMetrics: CivetWeb does not say which port it listens on");
  }
  server->listen_ = *address;
  server->listen_.port = bound.port;
  server->address_ = address->ipv6 ? absl::StrCat("[", address->host, "]:", bound.port)
                                   : absl::StrCat(address->host, ":", bound.port);
  mg_set_request_handler(server->context_, "/metrics$", OnMetrics, server.get());
  mg_set_request_handler(server->context_, "/status$", OnStatus, server.get());
  mg_set_request_handler(server->context_, "/$", OnRoot, server.get());
  LOG(INFO) << "sift_stream: serving /metrics and /status on http://" << server->address_;
  return server;
}

// CivetWeb's listener checks for a stop only between polls of up to two seconds (a
// compile-time constant of Debian's build): a connection ends its poll at once, so that
// destroying a stream does not take two extra seconds.
MetricsHttpServer::~MetricsHttpServer() {
  if (context_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    mg_stop(context_);
    stopped.store(true);
  });
  for (int i = 0; i < 100 && !stopped.load(); ++i) {
    Poke(listen_, listen_.port);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopper.join();
}

void MetricsHttpServer::Attach(const SiftStream* stream) { stream_.store(stream); }

int MetricsHttpServer::OnMetrics(mg_connection* connection, void* self) {
  auto* server = static_cast<MetricsHttpServer*>(self);
  if (!IsRead(connection)) return Respond(connection, 405, "text/plain", "GET only\n");
  const SiftStream* stream = server->stream_.load();
  if (stream == nullptr) return NotReady(connection);
  const SiftStreamMetrics metrics = stream->Metrics();
  {
    std::lock_guard<std::mutex> lock(server->rates_mu_);
    server->rates_.Add(absl::Now(), metrics);
  }
  return Respond(connection, 200, kPrometheusContentType,
                 PrometheusText(metrics, MeasureBackupDir(server->backup_dir_)));
}

int MetricsHttpServer::OnStatus(mg_connection* connection, void* self) {
  auto* server = static_cast<MetricsHttpServer*>(self);
  if (!IsRead(connection)) return Respond(connection, 405, "text/plain", "GET only\n");
  const SiftStream* stream = server->stream_.load();
  if (stream == nullptr) return NotReady(connection);
  return Respond(connection, 200, "text/html; charset=utf-8", server->RenderStatus(*stream));
}

int MetricsHttpServer::OnRoot(mg_connection* connection, void*) {
  mg_printf(connection,
            "HTTP/1.1 302 Found\r\nLocation: /status\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  return 302;
}

std::string MetricsHttpServer::RenderStatus(const SiftStream& stream) {
  StatusPageData data;
  data.now = absl::Now();
  data.metrics = stream.Metrics();
  data.checkpoints = stream.RecentCheckpoints();
  data.stream_id = stream.stream_id();
  data.ingestion_config_id = stream.ingestion_config_id();
  data.run_id = stream.run_id();
  data.backup_dir = backup_dir_;
  data.memory_backups = memory_backups_;
  data.disk = MeasureBackupDir(backup_dir_);
  {
    std::lock_guard<std::mutex> lock(rates_mu_);
    rates_.Add(data.now, data.metrics);
    data.rates = rates_.Rates();
  }
  return StatusPageHtml(data);
}

}  // namespace sift_stream::engine
