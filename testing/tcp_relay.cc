#include "testing/tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sift_stream::testing {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat("tcp relay: ", what, ": ", strerror(errno)));
}

// Copies what `from` has to `to`; false once `from` is at its end or either side failed.
bool Pump(int from, int to, std::atomic<uint64_t>& counter) {
  char buffer[64 * 1024];
  const ssize_t n = read(from, buffer, sizeof buffer);
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    const ssize_t w = write(to, buffer + done, n - done);
    if (w <= 0) return false;
    done += w;
  }
  counter += static_cast<uint64_t>(n);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(const std::string& upstream) {
  std::vector<std::string> parts = absl::StrSplit(upstream, absl::MaxSplits(':', 1));
  int port = 0;
  in_addr ip{};
  const std::string host = parts[0] == "localhost" ? "127.0.0.1" : parts[0];
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) ||
      inet_pton(AF_INET, host.c_str(), &ip) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tcp relay: upstream \"", upstream, "\" is not IPv4 host:port"));
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 16) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status error = Errno("listen on 127.0.0.1");
    close(listener);
    return error;
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    close(listener);
    return Errno("eventfd");
  }
  std::unique_ptr<TcpRelay> relay(
      new TcpRelay(listener, stop_fd, ntohs(addr.sin_port), ip.s_addr, port));
  relay->acceptor_ = std::thread([r = relay.get()] { r->AcceptLoop(); });
  return relay;
}

TcpRelay::TcpRelay(int listener, int stop_fd, int port, uint32_t upstream_ip,
                   int upstream_port)
    : listener_(listener),
      stop_fd_(stop_fd),
      port_(port),
      upstream_ip_(upstream_ip),
      upstream_port_(upstream_port) {}

TcpRelay::~TcpRelay() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  acceptor_.join();
  for (std::thread& relay : relays_) relay.join();
  close(listener_);
  close(stop_fd_);
}

std::string TcpRelay::address() const { return absl::StrCat("127.0.0.1:", port_); }

int TcpRelay::ConnectUpstream() const {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = upstream_ip_;
  addr.sin_port = htons(upstream_port_);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void TcpRelay::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int upstream = ConnectUpstream();
    if (upstream < 0) {  // The server is down: the client sees its connection close.
      close(client);
      continue;
    }
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    relays_.emplace_back([this, client, upstream] { Relay(client, upstream); });
  }
}

// Copies both ways; a side that reaches its end has the other side's write half shut, as a
// direct connection would, and the connection ends when both have or the relay stops.
void TcpRelay::Relay(int client, int upstream) {
  bool client_open = true;
  bool upstream_open = true;
  while (client_open || upstream_open) {
    pollfd fds[3] = {{client_open ? client : -1, POLLIN, 0},
                     {upstream_open ? upstream : -1, POLLIN, 0},
                     {stop_fd_, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[2].revents != 0) break;
    if (fds[0].revents != 0 && !Pump(client, upstream, to_upstream_)) {
      client_open = false;
      shutdown(upstream, SHUT_WR);
    }
    if (fds[1].revents != 0 && !Pump(upstream, client, from_upstream_)) {
      upstream_open = false;
      shutdown(client, SHUT_WR);
    }
  }
  close(client);
  close(upstream);
}

}  // namespace sift_stream::testing
