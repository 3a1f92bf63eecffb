// engine/metrics_http.h — the HTTP server behind SiftStreamBuilder::ServeMetrics.
//
// An embedded CivetWeb server (Debian's libcivetweb, no HTTP of our own) answers three paths:
//   /metrics  the Prometheus text format (engine/metrics_text.h)
//   /status   a page for people that refreshes itself (engine/status_page.h)
//   /         a redirect to /status
// It runs on CivetWeb's own threads and reads the stream only through SiftStream's thread-safe
// accessors (Metrics(), RecentCheckpoints()), never the reactor's state: a scrape costs the
// reactor one lock of its metrics snapshot. The size of the backup directory is measured on
// the HTTP thread, per request, so the reactor never lists directories for it.
//
// Lifecycle: Start() listens before the stream exists, so that a bad address fails Build()
// before any set-up call; until Attach() both pages answer 503. The owner destroys the server
// before the stream it reads (the destructor waits for requests in progress).

#ifndef SIFT_STREAM_ENGINE_METRICS_HTTP_H_
#define SIFT_STREAM_ENGINE_METRICS_HTTP_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/metrics_text.h"
#include "engine/status_page.h"

struct mg_connection;
struct mg_context;

namespace sift_stream {
class SiftStream;
}

namespace sift_stream::engine {

// Where to listen, parsed from "ip:port" ("localhost:port" is 127.0.0.1, "[::1]:port" IPv6).
struct ListenAddress {
  std::string host;  // An IP literal, without brackets.
  int port = 0;      // 0: any free port.
  bool ipv6 = false;
};
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view host_port);

// The *.pbfs files in `dir` and their total size; known == false if it cannot be listed.
BackupDirUsage MeasureBackupDir(const std::string& dir);

class MetricsHttpServer {
 public:
  // Listens on `host_port`. InvalidArgument for a malformed address, Unavailable when CivetWeb
  // cannot listen (the port is in use, the address is not local), with its reason.
  // `backup_dir` empty: no files to list (live-only mode, or `memory_backups`).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(absl::string_view host_port,
                                                                  std::string backup_dir,
                                                                  bool memory_backups = false);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // From now on the pages show `stream`, which must outlive this server. Once.
  void Attach(const SiftStream* stream);

  // "host:port" actually listened on (the real port when 0 was asked for).
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer(std::string backup_dir, bool memory_backups)
      : backup_dir_(std::move(backup_dir)), memory_backups_(memory_backups) {}
  static int OnMetrics(mg_connection* connection, void* self);
  static int OnStatus(mg_connection* connection, void* self);
  static int OnRoot(mg_connection* connection, void* self);
  std::string RenderStatus(const SiftStream& stream);

  const std::string backup_dir_;
  const bool memory_backups_;
  mg_context* context_ = nullptr;
  ListenAddress listen_;  // With the port actually bound.
  std::string address_;
  std::atomic<const SiftStream*> stream_{nullptr};
  std::mutex rates_mu_;  // Requests run on several CivetWeb threads.
  RateWindow rates_;     // Guarded by rates_mu_.
};

}  // namespace sift_stream::engine

#endif  // SIFT_STREAM_ENGINE_METRICS_HTTP_H_
