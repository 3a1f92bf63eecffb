// testing/tcp_relay.h — a loopback TCP relay that counts the bytes crossing it.
//
// Put it between a client and a server to see what went over the wire, e.g. that call
// compression shrank a stream:
//
//   auto relay = TcpRelay::Start((*sift)->address());
//   ... client connects to (*relay)->address() ...
//   EXPECT_LT((*relay)->bytes_to_upstream(), uncompressed_bytes / 2);
//
// Each accepted connection gets a connection to the upstream and a thread that copies both
// ways until both sides have closed. Loopback only; for tests.

#ifndef SIFT_STREAM_TESTING_TCP_RELAY_H_
#define SIFT_STREAM_TESTING_TCP_RELAY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace sift_stream::testing {

class TcpRelay {
 public:
  // Listens on 127.0.0.1 (a free port) and relays to `upstream`, "host:port" of an IPv4
  // loopback address ("localhost" works too).
  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(const std::string& upstream);
  // Stops accepting, closes every connection and joins its threads.
  ~TcpRelay();

  std::string address() const;
  uint64_t bytes_to_upstream() const { return to_upstream_.load(); }
  uint64_t bytes_from_upstream() const { return from_upstream_.load(); }
  uint64_t connections() const { return connections_.load(); }

 private:
  TcpRelay(int listener, int stop_fd, int port, uint32_t upstream_ip, int upstream_port);
  void AcceptLoop();
  void Relay(int client, int upstream);
  int ConnectUpstream() const;

  const int listener_;
  const int stop_fd_;  // An eventfd: readable once the relay stops.
  const int port_;
  const uint32_t upstream_ip_;  // Network byte order.
  const int upstream_port_;
  std::atomic<uint64_t> to_upstream_{0};
  std::atomic<uint64_t> from_upstream_{0};
  std::atomic<uint64_t> connections_{0};
  std::mutex mu_;
  std::vector<std::thread> relays_;  // Guarded by mu_.
  std::thread acceptor_;
};

}  // namespace sift_stream::testing

#endif  // SIFT_STREAM_TESTING_TCP_RELAY_H_
