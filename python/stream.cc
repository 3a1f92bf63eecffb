// python/stream.cc — see stream.h.

#include "python/stream.h"

#include <pybind11/stl.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/finish_report.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
#include "python/errors.h"
#include "python/flow_spec.h"
#include "python/options.h"
#include "python/reports.h"

namespace sift_stream::python {

namespace py = pybind11;
using sift::ingestion_configs::v2::FlowConfig;

Stream::Stream(std::unique_ptr<SiftStream> stream, std::string api_key,
               bool auto_register_flows)
    : stream_(std::move(stream)),
      api_key_(std::move(api_key)),
      auto_register_flows_(auto_register_flows) {
  SyncFlows();
}

void Stream::SyncFlows() {
  // The engine's list only grows, in order: what is past our count is new.
  const std::vector<FlowConfig> flows = stream_->flows();
  for (size_t i = flow_order_.size(); i < flows.size(); ++i) {
    const FlowConfig& flow = flows[i];
    if (flows_.contains(flow.name())) continue;
    flows_[flow.name()] = std::make_unique<ResolvedFlow>(Resolve(flow));
    flow_order_.push_back(flow.name());
  }
}

// ~SiftStream finishes (up to 5 s): other threads must run meanwhile. Not while the
// interpreter shuts down, when no other thread may take the GIL anyway.
Stream::~Stream() {
  if (PyGILState_Check() && !_Py_IsFinalizing()) {
    py::gil_scoped_release release;
    stream_.reset();
  } else {
    stream_.reset();
  }
}

const ResolvedFlow* Stream::FindOrNull(const std::string& flow) {
  auto it = flows_.find(flow);
  if (it != flows_.end()) return it->second.get();
  // Another thread's send may have auto-registered it since (the engine knows it first).
  SyncFlows();
  it = flows_.find(flow);
  return it == flows_.end() ? nullptr : it->second.get();
}

const ResolvedFlow& Stream::Find(const std::string& flow) {
  const ResolvedFlow* found = FindOrNull(flow);
  if (found == nullptr) {
    ThrowIfError(absl::InvalidArgumentError(absl::StrCat(
                     "unknown flow '", flow,
                     "': declare it in ingestion_config(flows=...) or add it with add_flows()")),
                 api_key_);
  }
  return *found;
}

void Stream::Send(const std::string& flow, py::handle timestamp, py::handle values) {
  if (const ResolvedFlow* found = FindOrNull(flow)) return Send(*found, timestamp, values);
  if (!auto_register_flows_) Find(flow);  // Raises.
  RegisterAndSend(flow, timestamp, values);
}

// The engine registers the flow inside Send, with a call to Sift: the GIL is released for it.
// The values are converted by the types the Python values imply, which are the types the
// engine infers from the converted values, so both agree on the flow's shape.
void Stream::RegisterAndSend(const std::string& flow, py::handle timestamp, py::handle values) {
  std::vector<engine::ChannelValue> converted;
  const absl::Time time = ToTime(timestamp);
  ToChannelValues(InferFlow(flow, values), values, &converted);
  absl::Status sent;
  {
    py::gil_scoped_release release;
    sent = stream_->Send(flow, time, converted);
  }
  SyncFlows();
  ThrowIfError(sent, api_key_);
}

void Stream::Send(const ResolvedFlow& flow, py::handle timestamp, py::handle values) {
  // Per thread, so its values' buffers are reused from one message to the next.
  thread_local std::vector<engine::ChannelValue> converted;
  const absl::Time time = ToTime(timestamp);
  ToChannelValues(flow, values, &converted);
  ThrowIfError(stream_->Send(flow.name, time, converted), api_key_);
}

bool Stream::TrySend(const std::string& flow, py::handle timestamp, py::handle values) {
  return TrySend(Find(flow), timestamp, values);
}

// The engine's TrySend takes a request: built here as RequestBuilder::Build would (the
// engine fills in the config and run ids, and checks the values against the flow).
bool Stream::TrySend(const ResolvedFlow& flow, py::handle timestamp, py::handle values) {
  // Per thread, reused from one message to the next, as in Send.
  thread_local std::vector<engine::ChannelValue> converted;
  thread_local sift::ingest::v1::IngestWithConfigDataStreamRequest request;
  const absl::Time time = ToTime(timestamp);
  ToChannelValues(flow, values, &converted);
  request.Clear();
  request.set_flow(flow.name);
  const int64_t nanos = absl::ToUnixNanos(time);
  auto* ts = request.mutable_timestamp();
  // Floor division: a time before 1970 has negative seconds and nanos in [0, 1e9).
  ts->set_seconds(nanos >= 0 ? nanos / 1000000000 : (nanos - 999999999) / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos - ts->seconds() * 1000000000));
  for (const engine::ChannelValue& value : converted) value.CopyTo(request.add_channel_values());
  const absl::Status sent = stream_->TrySend(request);
  // The caller still holds timestamp and values: "kept" means it can call again with them.
  if (absl::IsResourceExhausted(sent)) return false;
  ThrowIfError(sent, api_key_);
  return true;
}

bool Stream::WaitForRoom(py::handle timeout_s) {
  const absl::Duration timeout = DurationArg(timeout_s, "timeout_s");
  py::gil_scoped_release release;
  return stream_->WaitForRoom(timeout);
}

std::string Stream::AttachRun(RunSpec run) {
  absl::StatusOr<std::string> run_id;
  {
    py::gil_scoped_release release;
    run_id = stream_->AttachRun(std::move(run));
  }
  ThrowIfError(run_id.status(), api_key_);
  return *std::move(run_id);
}

void Stream::DetachRun() {
  absl::Status detached;
  {
    // Waits for a concurrent attach_run or add_flows, which hold the engine's lock across
    // their calls to Sift.
    py::gil_scoped_release release;
    detached = stream_->DetachRun();
  }
  ThrowIfError(detached, api_key_);
}

void Stream::AddFlows(py::handle flows_spec) {
  std::vector<FlowConfig> flows = FlowsFromPython(flows_spec);
  absl::Status added;
  {
    py::gil_scoped_release release;
    added = stream_->AddFlows(std::move(flows));
  }
  ThrowIfError(added, api_key_);
  SyncFlows();
}

void Stream::Flush(py::handle timeout_s) {
  const absl::Duration timeout = DurationArg(timeout_s, "timeout_s");
  absl::Status flushed;
  {
    py::gil_scoped_release release;
    flushed = stream_->Flush(timeout);
  }
  ThrowIfError(flushed, api_key_);
}

void Stream::Finish(py::handle timeout_s) {
  const absl::Duration timeout = DurationArg(timeout_s, "timeout_s");
  absl::Status finished;
  {
    py::gil_scoped_release release;
    finished = stream_->Finish(timeout);
  }
  ThrowIfError(finished, api_key_);
}

// The report even when Finish failed (that is its point): `raise report["error"]` does what
// finish() would have.
py::dict Stream::FinishWithReport(py::handle timeout_s) {
  const absl::Duration timeout = DurationArg(timeout_s, "timeout_s");
  FinishReport report;
  {
    py::gil_scoped_release release;
    report = stream_->FinishWithReport(timeout);
  }
  return ReportToPython(report, api_key_);
}

namespace {

// --- Flow handles -------------------------------------------------------------------------

// A flow resolved once: send() goes straight to the conversion and the engine. Keeps the
// stream alive, so a handle never outlives what it points into.
class FlowHandle {
 public:
  FlowHandle(std::shared_ptr<Stream> stream, const ResolvedFlow* flow)
      : stream_(std::move(stream)), flow_(flow) {}
  void Send(py::handle timestamp, py::handle values) { stream_->Send(*flow_, timestamp, values); }
  bool TrySend(py::handle timestamp, py::handle values) {
    return stream_->TrySend(*flow_, timestamp, values);
  }
  const std::string& name() const { return flow_->name; }
  std::vector<std::string> channels() const;

 private:
  std::shared_ptr<Stream> stream_;
  const ResolvedFlow* flow_;
};

std::vector<std::string> FlowHandle::channels() const {
  std::vector<std::string> names;
  for (const ResolvedChannel& channel : flow_->channels) names.push_back(channel.name);
  return names;
}

}  // namespace

void RegisterStream(py::module_& m) {
  py::class_<Stream, std::shared_ptr<Stream>>(m, "Stream", "A running stream; see Builder.")
      .def("send", py::overload_cast<const std::string&, py::handle, py::handle>(&Stream::Send),
           py::arg("flow"), py::arg("timestamp"), py::arg("values"))
      .def("flow",
           [](std::shared_ptr<Stream> s, const std::string& name) {
             const ResolvedFlow* flow = &s->Find(name);
             return FlowHandle(std::move(s), flow);
           },
           py::arg("name"))
      .def("try_send",
           py::overload_cast<const std::string&, py::handle, py::handle>(&Stream::TrySend),
           py::arg("flow"), py::arg("timestamp"), py::arg("values"),
           "send() that never waits: False when refused for now (nothing taken; call again).")
      .def("wait_for_room", &Stream::WaitForRoom, py::arg("timeout_s"),
           "After a refusal: blocks (GIL released) until the queue has room; False on timeout.")
      .def("attach_run",
           [](Stream& s, std::string name, std::string client_key, std::string run_id,
              std::string description, std::vector<std::string> tags) {
             return s.AttachRun(RunFromPython(std::move(name), std::move(client_key),
                                              std::move(run_id), std::move(description),
                                              std::move(tags), "attach_run"));
           },
           py::arg("name") = "", py::arg("client_key") = "", py::arg("run_id") = "",
           py::arg("description") = "", py::arg("tags") = std::vector<std::string>{},
           "Messages sent from now on carry this run; returns its id.")
      .def("detach_run", &Stream::DetachRun, "Messages sent from now on carry no run.")
      .def("add_flows", &Stream::AddFlows, py::arg("flows"),
           "Registers more flows (as ingestion_config's flows=); all or nothing.")
      .def("flush", &Stream::Flush, py::arg("timeout_s"))
      .def("finish", &Stream::Finish, py::arg("timeout_s"))
      .def("finish_with_report", &Stream::FinishWithReport, py::arg("timeout_s"),
           "finish(), returning what it can prove as a dict instead of raising.")
      .def("metrics", [](Stream& s) { return MetricsToPython(s.engine().Metrics()); })
      .def("recent_checkpoints",
           [](Stream& s) { return CheckpointsToPython(s.engine().RecentCheckpoints()); },
           "The last live checkpoints (at most 20, oldest first) as dicts: what /status shows.")
      .def_property_readonly("flows", &Stream::flow_names)
      .def_property_readonly("ingestion_config_id",
                             [](Stream& s) { return s.engine().ingestion_config_id(); })
      .def_property_readonly("run_id", [](Stream& s) { return s.engine().run_id(); })
      .def_property_readonly("stream_id", [](Stream& s) { return s.engine().stream_id(); })
      .def_property_readonly(
          "metrics_address", [](Stream& s) { return s.engine().metrics_address(); },
          "\"host:port\" of Builder.serve_metrics' HTTP server (the real port when 0 was "
          "asked for); \"\" without it.")
      .def("__enter__", [](std::shared_ptr<Stream> s) { return s; })
      .def("__exit__", [](Stream& s, py::handle type, py::handle, py::handle) {
        // Finish either way; an error of Finish must not hide the exception in flight.
        try {
          s.Finish(py::float_(30.0));
        } catch (py::error_already_set&) {
          if (!type.is_none()) return false;
          throw;
        }
        return false;
      });
  py::class_<FlowHandle>(m, "FlowHandle", "A flow of a stream, resolved once: stream.flow(name).")
      .def("send", &FlowHandle::Send, py::arg("timestamp"), py::arg("values"))
      .def("try_send", &FlowHandle::TrySend, py::arg("timestamp"), py::arg("values"),
           "send() that never waits: False when refused for now (nothing taken; call again).")
      .def_property_readonly("name", &FlowHandle::name)
      .def_property_readonly("channels", &FlowHandle::channels);
}

}  // namespace sift_stream::python
