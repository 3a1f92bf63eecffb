// Producer → reactor queue throughput: Google Benchmark, one consumer draining in batches
// while N producers push 142-byte messages (the size of a 10-double Sift request).
//
//   bazel run -c opt //engine:message_queue_benchmark -- --benchmark_format=json

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/message_queue.h"

namespace sift_stream::engine {
namespace {

void BM_PushPop(benchmark::State& state) {
  static MessageQueue* queue = nullptr;
  static std::atomic<bool> stop{false};
  static std::thread consumer;
  if (state.thread_index() == 0) {
    queue = new MessageQueue(10240);
    stop = false;
    consumer = std::thread([] {
      std::vector<std::string> batch;
      while (!stop.load(std::memory_order_relaxed)) {
        if (queue->PopBatch(batch, 256) == 0) std::this_thread::yield();
      }
    });
  }
  std::string message(142, 'm');
  int64_t pushed = 0;
  for (auto _ : state) {
    message.assign(142, 'm');
    while (!queue->Push(message).ok()) std::this_thread::yield();
    ++pushed;
  }
  state.SetItemsProcessed(pushed);
  if (state.thread_index() == 0) {
    stop = true;
    consumer.join();
    delete queue;
  }
}
BENCHMARK(BM_PushPop)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace sift_stream::engine

BENCHMARK_MAIN();
