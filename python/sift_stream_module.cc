// python/sift_stream_module.cc — `import sift_stream`: the engine's public API for Python.
//
//   stream = (sift_stream.Builder()
//             .uri("api.siftstack.com:443").api_key(key)
//             .ingestion_config(asset_name="rover-7", client_key="rover-7-v1", flows=[imu])
//             .backups(backup_dir="/var/lib/rover/sift")
//             .build())
//   imu = stream.flow("imu")           # resolved once
//   imu.send(time.time(), [ax, ay, az])
//   stream.finish(30)
//
// Depends only on the engine's public headers. The GIL is released wherever the engine may
// wait (build: network calls; flush; finish; the stream's destructor, which finishes), so
// other Python threads run meanwhile. send() keeps it: the engine's Send never waits — a full
// queue is a ResourceExhausted at once — and releasing and taking the GIL back would cost
// more than the send. Errors are the classes of errors.h; see docs/python.md.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/sift_stream.h"
#include "python/errors.h"
#include "python/flow_spec.h"
#include "python/values.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;
using sift::ingestion_configs::v2::FlowConfig;

absl::Duration Seconds(double seconds) {
  if (!(seconds >= 0)) throw py::value_error("a duration in seconds must be >= 0");
  return absl::Seconds(seconds);
}

// --- Stream -------------------------------------------------------------------------------

class Stream {
 public:
  Stream(std::unique_ptr<SiftStream> stream, const std::vector<FlowConfig>& flows,
         std::string api_key);
  ~Stream();

  // Looks the flow up by name, then sends as Send(flow, ...) below.
  void Send(const std::string& flow, py::handle timestamp, py::handle values);
  void Send(const ResolvedFlow& flow, py::handle timestamp, py::handle values);
  const ResolvedFlow& Find(const std::string& flow) const;
  void Flush(double timeout_s);
  void Finish(double timeout_s);
  py::dict Metrics() const;
  SiftStream& engine() { return *stream_; }
  std::vector<std::string> flow_names() const;

 private:
  std::unique_ptr<SiftStream> stream_;
  // unique_ptr: flow handles keep pointers into the map.
  absl::flat_hash_map<std::string, std::unique_ptr<ResolvedFlow>> flows_;
  std::vector<std::string> flow_order_;
  std::string api_key_;  // Only to keep it out of error messages.
};

Stream::Stream(std::unique_ptr<SiftStream> stream, const std::vector<FlowConfig>& flows,
               std::string api_key)
    : stream_(std::move(stream)), api_key_(std::move(api_key)) {
  for (const FlowConfig& flow : flows) {
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

const ResolvedFlow& Stream::Find(const std::string& flow) const {
  auto it = flows_.find(flow);
  if (it == flows_.end()) {
    ThrowIfError(absl::InvalidArgumentError(absl::StrCat(
                     "unknown flow '", flow, "': declare it in ingestion_config(flows=...)")),
                 api_key_);
  }
  return *it->second;
}

void Stream::Send(const std::string& flow, py::handle timestamp, py::handle values) {
  Send(Find(flow), timestamp, values);
}

void Stream::Send(const ResolvedFlow& flow, py::handle timestamp, py::handle values) {
  // Per thread, so its values' buffers are reused from one message to the next.
  thread_local std::vector<engine::ChannelValue> converted;
  const absl::Time time = ToTime(timestamp);
  ToChannelValues(flow, values, &converted);
  ThrowIfError(stream_->Send(flow.name, time, converted), api_key_);
}

void Stream::Flush(double timeout_s) {
  const absl::Duration timeout = Seconds(timeout_s);
  absl::Status flushed;
  {
    py::gil_scoped_release release;
    flushed = stream_->Flush(timeout);
  }
  ThrowIfError(flushed, api_key_);
}

void Stream::Finish(double timeout_s) {
  const absl::Duration timeout = Seconds(timeout_s);
  absl::Status finished;
  {
    py::gil_scoped_release release;
    finished = stream_->Finish(timeout);
  }
  ThrowIfError(finished, api_key_);
}

std::vector<std::string> Stream::flow_names() const { return flow_order_; }

py::dict Stream::Metrics() const {
  const SiftStreamMetrics m = stream_->Metrics();
  py::dict d;
  d["messages_sent"] = m.messages_sent;
  d["bytes_sent"] = m.bytes_sent;
  d["messages_refused"] = m.messages_refused;
  d["messages_written_live"] = m.messages_written_live;
  d["messages_acknowledged"] = m.messages_acknowledged;
  d["messages_dropped_live"] = m.messages_dropped_live;
  d["messages_backed_up"] = m.messages_backed_up;
  d["bytes_backed_up"] = m.bytes_backed_up;
  d["messages_durable"] = m.messages_durable;
  d["messages_reingested"] = m.messages_reingested;
  d["recovery_files_found"] = m.recovery_files_found;
  d["backup_files_recovered"] = m.backup_files_recovered;
  d["messages_recovered"] = m.messages_recovered;
  d["checkpoints_ok"] = m.checkpoints_ok;
  d["checkpoints_failed"] = m.checkpoints_failed;
  d["last_checkpoint_duration_s"] = absl::ToDoubleSeconds(m.last_checkpoint_duration);
  d["live_streams_failed"] = m.live_streams_failed;
  d["ack_timeouts"] = m.ack_timeouts;
  d["retries"] = m.retries;
  d["current_backoff_s"] = absl::ToDoubleSeconds(m.current_backoff);
  d["reingest_jobs_done"] = m.reingest_jobs_done;
  d["reingest_jobs_failed"] = m.reingest_jobs_failed;
  d["backup_files_created"] = m.backup_files_created;
  d["backup_files_deleted"] = m.backup_files_deleted;
  d["backup_rotations"] = m.backup_rotations;
  d["backup_files_buffered"] = m.backup_files_buffered;
  d["backup_disk_full"] = m.backup_disk_full;
  d["backup_disk_full_stalls"] = m.backup_disk_full_stalls;
  d["send_queue_depth"] = m.send_queue_depth;
  d["live_queue_depth"] = m.live_queue_depth;
  d["errors"] = m.errors;
  d["last_error"] = m.last_error;
  return d;
}

// --- Flow handles -------------------------------------------------------------------------

// A flow resolved once: send() goes straight to the conversion and the engine. Keeps the
// stream alive, so a handle never outlives what it points into.
class FlowHandle {
 public:
  FlowHandle(std::shared_ptr<Stream> stream, const ResolvedFlow* flow)
      : stream_(std::move(stream)), flow_(flow) {}
  void Send(py::handle timestamp, py::handle values) { stream_->Send(*flow_, timestamp, values); }
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

// --- Builder ------------------------------------------------------------------------------

// SiftStreamBuilder plus what the Python side needs after Build(): the flows (to resolve
// them) and the key (to keep it out of messages).
class Builder {
 public:
  SiftStreamBuilder engine;
  std::vector<FlowConfig> flows;
  std::string api_key;

  // Each returns *this, so that calls chain.
  Builder& IngestionConfig(std::string asset_name, std::string client_key,
                           py::handle flows_spec, std::string organization_id);
  Builder& Run(std::string name, std::string client_key, std::string run_id,
               std::string description, std::vector<std::string> tags);
  Builder& Backups(std::string backup_dir, py::object max_file_size_bytes,
                   py::object max_file_count, bool retain_backups);
  Builder& Mode(const std::string& mode);
  std::shared_ptr<Stream> Build();
};

Builder& Builder::IngestionConfig(std::string asset_name, std::string client_key,
                                  py::handle flows_spec, std::string organization_id) {
  IngestionConfigSpec spec;
  spec.asset_name = std::move(asset_name);
  spec.client_key = std::move(client_key);
  spec.flows = FlowsFromPython(flows_spec);
  spec.organization_id = std::move(organization_id);
  flows = spec.flows;
  engine.IngestionConfig(std::move(spec));
  return *this;
}

// By id, else found (or made) by client_key, else a new run named `name`.
Builder& Builder::Run(std::string name, std::string client_key, std::string run_id,
                      std::string description, std::vector<std::string> tags) {
  RunSpec run;
  run.kind = !run_id.empty()       ? RunSpec::Kind::kById
             : !client_key.empty() ? RunSpec::Kind::kByClientKey
                                   : RunSpec::Kind::kNew;
  if (run.kind == RunSpec::Kind::kNew && name.empty()) {
    throw py::value_error("run() needs a name, a client_key or a run_id");
  }
  run.name = std::move(name);
  run.client_key = std::move(client_key);
  run.run_id = std::move(run_id);
  run.description = std::move(description);
  run.tags = std::move(tags);
  engine.Run(std::move(run));
  return *this;
}

// Fields left as None keep the engine's defaults.
Builder& Builder::Backups(std::string backup_dir, py::object max_file_size_bytes,
                          py::object max_file_count, bool retain_backups) {
  DiskBackupPolicy policy;
  policy.backup_dir = std::move(backup_dir);
  if (!max_file_size_bytes.is_none()) {
    policy.max_file_size_bytes = max_file_size_bytes.cast<uint64_t>();
  }
  if (!max_file_count.is_none()) policy.max_file_count = max_file_count.cast<int>();
  policy.retain_backups = retain_backups;
  engine.Backups(std::move(policy));
  return *this;
}

Builder& Builder::Mode(const std::string& mode) {
  if (mode == "live_with_backups") {
    engine.Mode(StreamMode::kLiveWithBackups);
  } else if (mode == "live_only") {
    engine.Mode(StreamMode::kLiveOnly);
  } else if (mode == "backups_only") {
    engine.Mode(StreamMode::kBackupsOnly);
  } else {
    throw py::value_error(absl::StrCat("unknown mode '", mode,
                                       "' (live_with_backups, live_only, backups_only)"));
  }
  return *this;
}

std::shared_ptr<Stream> Builder::Build() {
  // A copy, so that another thread may use this builder while the GIL is released.
  SiftStreamBuilder builder = engine;
  absl::StatusOr<std::unique_ptr<SiftStream>> built;
  {
    py::gil_scoped_release release;
    built = builder.Build();
  }
  ThrowIfError(built.status(), api_key);
  return std::make_shared<Stream>(*std::move(built), flows, api_key);
}

// --- Module -------------------------------------------------------------------------------

// A one-argument setter as a Builder method that returns the builder, so calls chain.
template <typename Arg, typename F>
auto Chain(F setter) {
  return [setter](Builder& b, Arg arg) -> Builder& {
    setter(b, std::move(arg));
    return b;
  };
}

void RegisterBuilder(py::module_& m) {
  constexpr auto self = py::return_value_policy::reference;
  py::class_<Builder>(m, "Builder", "Configures a stream; build() makes it.")
      .def(py::init<>())
      .def("uri", Chain<std::string>([](Builder& b, std::string uri) { b.engine.Uri(std::move(uri)); }),
           py::arg("host_port"), self, "Sift's gRPC API, \"host:port\".")
      .def("api_key",
           Chain<std::string>([](Builder& b, std::string key) {
             b.api_key = key;
             b.engine.ApiKey(std::move(key));
           }),
           py::arg("api_key"), self)
      .def("tls", Chain<bool>([](Builder& b, bool tls) { b.engine.Tls(tls); }), py::arg("tls"), self,
           "True (the default) for real Sift; False for a loopback test server.")
      .def("ingestion_config", &Builder::IngestionConfig, py::arg("asset_name"),
           py::arg("client_key"), py::arg("flows"), py::arg("organization_id") = "", self)
      .def("run", &Builder::Run, py::arg("name") = "", py::arg("client_key") = "",
           py::arg("run_id") = "", py::arg("description") = "",
           py::arg("tags") = std::vector<std::string>{}, self)
      .def("backups", &Builder::Backups, py::arg("backup_dir"),
           py::arg("max_file_size_bytes") = py::none(), py::arg("max_file_count") = py::none(),
           py::arg("retain_backups") = false, self)
      .def("mode", &Builder::Mode, py::arg("mode"), self,
           "\"live_with_backups\" (default), \"live_only\" or \"backups_only\".")
      .def("checkpoint_interval",
           Chain<double>([](Builder& b, double s) { b.engine.CheckpointInterval(Seconds(s)); }),
           py::arg("seconds"), self)
      .def("ack_timeout", Chain<double>([](Builder& b, double s) { b.engine.AckTimeout(Seconds(s)); }),
           py::arg("seconds"), self)
      .def("data_capacity",
           Chain<size_t>([](Builder& b, size_t n) { b.engine.DataCapacity(n); }), py::arg("messages"),
           self)
      .def("max_message_bytes",
           Chain<size_t>([](Builder& b, size_t n) { b.engine.MaxMessageBytes(n); }), py::arg("bytes"),
           self)
      .def("build", &Builder::Build,
           "Makes the set-up calls and starts the stream (the GIL is released meanwhile).");
}

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
      .def("flush", &Stream::Flush, py::arg("timeout_s"))
      .def("finish", &Stream::Finish, py::arg("timeout_s"))
      .def("metrics", &Stream::Metrics)
      .def_property_readonly("flows", &Stream::flow_names)
      .def_property_readonly("ingestion_config_id",
                             [](Stream& s) { return s.engine().ingestion_config_id(); })
      .def_property_readonly("run_id", [](Stream& s) { return s.engine().run_id(); })
      .def_property_readonly("stream_id", [](Stream& s) { return s.engine().stream_id(); })
      .def("__enter__", [](std::shared_ptr<Stream> s) { return s; })
      .def("__exit__", [](Stream& s, py::handle type, py::handle, py::handle) {
        // Finish either way; an error of Finish must not hide the exception in flight.
        try {
          s.Finish(30);
        } catch (py::error_already_set&) {
          if (!type.is_none()) return false;
          throw;
        }
        return false;
      });
  py::class_<FlowHandle>(m, "FlowHandle", "A flow of a stream, resolved once: stream.flow(name).")
      .def("send", &FlowHandle::Send, py::arg("timestamp"), py::arg("values"))
      .def_property_readonly("name", &FlowHandle::name)
      .def_property_readonly("channels", &FlowHandle::channels);
}

}  // namespace
}  // namespace sift_stream::python

// The module's only exported symbol is PyInit_sift_stream (see sift_stream.lds).
PYBIND11_MODULE(sift_stream, m) {
  m.doc() = "Stream telemetry to Sift without losing a data point (sift_stream C++ engine).";
  sift_stream::python::RegisterErrors(m);
  sift_stream::python::RegisterFlowSpecClasses(m);
  sift_stream::python::RegisterBuilder(m);
  sift_stream::python::RegisterStream(m);
}
