#include "testing/tcp_relay.h"

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "proto/sift/runs/v2/runs.grpc.pb.h"
#include "testing/fake_sift.h"

namespace sift_stream::testing {
namespace {

grpc::Status ListRuns(const std::string& address, sift::runs::v2::ListRunsResponse* response) {
  auto stub = sift::runs::v2::RunService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer k");
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub->ListRuns(&context, sift::runs::v2::ListRunsRequest(), response);
}

TEST(TcpRelayTest, CarriesACallAndCountsItsBytesBothWays) {
  FakeSiftOptions options;
  options.api_keys = {"k"};
  auto sift = FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  auto relay = TcpRelay::Start((*sift)->address());
  ASSERT_TRUE(relay.ok()) << relay.status();
  sift::runs::v2::ListRunsResponse response;
  grpc::Status status = ListRuns((*relay)->address(), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ((*relay)->connections(), 1u);
  // An HTTP/2 preface (24 bytes) plus settings and headers, and a response.
  EXPECT_GT((*relay)->bytes_to_upstream(), 24u);
  EXPECT_GT((*relay)->bytes_from_upstream(), 0u);
}

TEST(TcpRelayTest, AServerThatIsDownLooksDownThroughTheRelay) {
  FakeSiftOptions options;
  auto sift = FakeSift::Start(options);
  ASSERT_TRUE(sift.ok()) << sift.status();
  const std::string address = (*sift)->address();
  sift->reset();  // Nobody listens there any more.
  auto relay = TcpRelay::Start(address);
  ASSERT_TRUE(relay.ok()) << relay.status();
  sift::runs::v2::ListRunsResponse response;
  EXPECT_EQ(ListRuns((*relay)->address(), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(TcpRelayTest, RefusesAnUpstreamThatIsNotHostPort) {
  EXPECT_TRUE(absl::IsInvalidArgument(TcpRelay::Start("no-port").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(TcpRelay::Start("example.com:80").status()));
}

}  // namespace
}  // namespace sift_stream::testing
