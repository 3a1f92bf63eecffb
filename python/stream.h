// python/stream.h — sift_stream.Stream and sift_stream.FlowHandle: a built SiftStream as
// Python sees it.
//
// The GIL is released wherever the engine may wait (flush; finish and finish_with_report;
// wait_for_room; attach_run, detach_run and add_flows: calls to Sift; the first send of a flow
// that auto_register_flows registers; the destructor, which finishes), so other Python threads
// run meanwhile. send() and try_send() keep it: the engine's Send never waits — a full queue
// is a ResourceExhausted at once — and releasing and taking the GIL back would cost more than
// the send.

#ifndef SIFT_STREAM_PYTHON_STREAM_H_
#define SIFT_STREAM_PYTHON_STREAM_H_

#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/sift_stream.h"
#include "python/values.h"

namespace sift_stream::python {

class Stream {
 public:
  Stream(std::unique_ptr<SiftStream> stream, std::string api_key, bool auto_register_flows);
  ~Stream();

  // Looks the flow up by name, then sends as Send(flow, ...) below; with auto_register_flows,
  // an unknown flow is registered first (RegisterAndSend).
  void Send(const std::string& flow, pybind11::handle timestamp, pybind11::handle values);
  void Send(const ResolvedFlow& flow, pybind11::handle timestamp, pybind11::handle values);
  // False: refused for now (ResourceExhausted), nothing taken. Never registers a flow.
  bool TrySend(const std::string& flow, pybind11::handle timestamp, pybind11::handle values);
  bool TrySend(const ResolvedFlow& flow, pybind11::handle timestamp, pybind11::handle values);
  const ResolvedFlow& Find(const std::string& flow);
  bool WaitForRoom(pybind11::handle timeout_s);
  std::string AttachRun(RunSpec run);
  void DetachRun();
  void AddFlows(pybind11::handle flows_spec);
  void Flush(pybind11::handle timeout_s);
  void Finish(pybind11::handle timeout_s);
  pybind11::dict FinishWithReport(pybind11::handle timeout_s);
  SiftStream& engine() { return *stream_; }
  const std::string& api_key() const { return api_key_; }
  std::vector<std::string> flow_names() const { return flow_order_; }

 private:
  // Resolves the flows the engine knows and this object does not yet (declared at build,
  // added, auto-registered), so that values convert by their declared types. With the GIL.
  void SyncFlows();
  const ResolvedFlow* FindOrNull(const std::string& flow);
  void RegisterAndSend(const std::string& flow, pybind11::handle timestamp,
                       pybind11::handle values);

  std::unique_ptr<SiftStream> stream_;
  // unique_ptr: flow handles keep pointers into the map, so entries are never erased. Read
  // and changed with the GIL held only: the GIL is this map's lock.
  absl::flat_hash_map<std::string, std::unique_ptr<ResolvedFlow>> flows_;
  std::vector<std::string> flow_order_;
  std::string api_key_;  // Only to keep it out of error messages.
  const bool auto_register_flows_;
};

// Adds Stream and FlowHandle to the module; once, at import.
void RegisterStream(pybind11::module_& module);

}  // namespace sift_stream::python

#endif  // SIFT_STREAM_PYTHON_STREAM_H_
