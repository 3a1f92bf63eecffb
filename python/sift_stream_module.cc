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
// wait (build: network calls; flush; finish and finish_with_report; wait_for_room;
// attach_run, detach_run and add_flows: calls to Sift; the first send of a flow that
// auto_register_flows registers; the stream's destructor, which finishes), so other Python
// threads run meanwhile. send() and try_send() keep it otherwise: the engine's Send never
// waits — a full queue is a ResourceExhausted at once — and releasing and taking the GIL back
// would cost more than the send. Errors are the classes of errors.h; see docs/python.md.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/finish_report.h"
#include "engine/sift_stream.h"
#include "proto/sift/ingest/v1/ingest.pb.h"
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

// By id, else found (or made) by client_key, else a new run named `name`: Builder.run and
// Stream.attach_run take the same arguments.
RunSpec RunFromPython(std::string name, std::string client_key, std::string run_id,
                      std::string description, std::vector<std::string> tags,
                      const char* caller) {
  RunSpec run;
  run.kind = !run_id.empty()       ? RunSpec::Kind::kById
             : !client_key.empty() ? RunSpec::Kind::kByClientKey
                                   : RunSpec::Kind::kNew;
  if (run.kind == RunSpec::Kind::kNew && name.empty()) {
    throw py::value_error(absl::StrCat(caller, "() needs a name, a client_key or a run_id"));
  }
  run.name = std::move(name);
  run.client_key = std::move(client_key);
  run.run_id = std::move(run_id);
  run.description = std::move(description);
  run.tags = std::move(tags);
  return run;
}

// --- Stream -------------------------------------------------------------------------------

class Stream {
 public:
  Stream(std::unique_ptr<SiftStream> stream, std::string api_key, bool auto_register_flows);
  ~Stream();

  // Looks the flow up by name, then sends as Send(flow, ...) below; with auto_register_flows,
  // an unknown flow is registered first (RegisterAndSend).
  void Send(const std::string& flow, py::handle timestamp, py::handle values);
  void Send(const ResolvedFlow& flow, py::handle timestamp, py::handle values);
  // False: refused for now (ResourceExhausted), nothing taken. Never registers a flow.
  bool TrySend(const std::string& flow, py::handle timestamp, py::handle values);
  bool TrySend(const ResolvedFlow& flow, py::handle timestamp, py::handle values);
  const ResolvedFlow& Find(const std::string& flow);
  bool WaitForRoom(double timeout_s);
  std::string AttachRun(RunSpec run);
  void DetachRun();
  void AddFlows(py::handle flows_spec);
  void Flush(double timeout_s);
  void Finish(double timeout_s);
  py::dict FinishWithReport(double timeout_s);
  py::dict Metrics() const;
  SiftStream& engine() { return *stream_; }
  std::vector<std::string> flow_names() const;

 private:
  // Resolves the flows the engine knows and this object does not yet (declared at build,
  // added, auto-registered), so that values convert by their declared types. With the GIL.
  void SyncFlows();
  const ResolvedFlow* FindOrNull(const std::string& flow);
  void RegisterAndSend(const std::string& flow, py::handle timestamp, py::handle values);

  std::unique_ptr<SiftStream> stream_;
  // unique_ptr: flow handles keep pointers into the map, so entries are never erased. Read
  // and changed with the GIL held only: the GIL is this map's lock.
  absl::flat_hash_map<std::string, std::unique_ptr<ResolvedFlow>> flows_;
  std::vector<std::string> flow_order_;
  std::string api_key_;  // Only to keep it out of error messages.
  const bool auto_register_flows_;
};

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

bool Stream::WaitForRoom(double timeout_s) {
  const absl::Duration timeout = Seconds(timeout_s);
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

py::dict KeptToPython(const KeptCheckpoint& kept) {
  py::dict d;
  d["checkpoint"] = kept.checkpoint;
  d["messages"] = kept.messages;
  d["messages_on_disk"] = kept.messages_on_disk;
  d["messages_acknowledged_live"] = kept.messages_acknowledged_live;
  d["files"] = kept.files;
  return d;
}

// The report even when Finish failed (that is its point): the status is an exception object
// under "error", not raised; `raise report["error"]` does what finish() would have.
py::dict Stream::FinishWithReport(double timeout_s) {
  const absl::Duration timeout = Seconds(timeout_s);
  FinishReport report;
  {
    py::gil_scoped_release release;
    report = stream_->FinishWithReport(timeout);
  }
  py::dict d;
  d["ok"] = report.status.ok();
  d["error"] = ErrorObject(report.status, api_key_);
  d["messages_sent"] = report.messages_sent;
  d["messages_acknowledged"] = report.messages_acknowledged;
  d["checkpoints_acknowledged"] = report.checkpoints_acknowledged;
  d["checkpoints_reingested"] = report.checkpoints_reingested;
  py::list kept;
  for (const KeptCheckpoint& checkpoint : report.kept) kept.append(KeptToPython(checkpoint));
  d["kept"] = kept;
  d["messages_on_disk"] = report.messages_on_disk;
  d["messages_unprotected"] = report.messages_unprotected;
  d["leftover_files"] = report.leftover_files;
  return d;
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
  d["memory_backup_bytes"] = m.memory_backup_bytes;
  d["memory_backup_messages"] = m.memory_backup_messages;
  d["memory_backup_full"] = m.memory_backup_full;
  d["memory_backup_full_stalls"] = m.memory_backup_full_stalls;
  d["memory_backup_messages_lost"] = m.memory_backup_messages_lost;
  d["send_queue_depth"] = m.send_queue_depth;
  d["live_queue_depth"] = m.live_queue_depth;
  d["errors"] = m.errors;
  d["reactor_cpu_ns"] = m.reactor_cpu_ns;
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

// --- Builder ------------------------------------------------------------------------------

// SiftStreamBuilder plus what the Python side needs after Build(): the flows (to resolve
// them) and the key (to keep it out of messages).
class Builder {
 public:
  SiftStreamBuilder engine;
  std::string api_key;
  bool auto_register_flows = false;

  // Each returns *this, so that calls chain.
  Builder& IngestionConfig(std::string asset_name, std::string client_key,
                           py::handle flows_spec, std::string organization_id);
  Builder& Run(std::string name, std::string client_key, std::string run_id,
               std::string description, std::vector<std::string> tags);
  Builder& Backups(std::string backup_dir, py::object max_file_size_bytes,
                   py::object max_file_count, bool retain_backups);
  Builder& Mode(const std::string& mode);
  Builder& Compress(const std::string& compression);
  Builder& MemoryBackups(py::object max_bytes, py::object checkpoint_max_bytes,
                         py::object chunk_bytes);
  std::shared_ptr<Stream> Build();
};

Builder& Builder::IngestionConfig(std::string asset_name, std::string client_key,
                                  py::handle flows_spec, std::string organization_id) {
  IngestionConfigSpec spec;
  spec.asset_name = std::move(asset_name);
  spec.client_key = std::move(client_key);
  spec.flows = FlowsFromPython(flows_spec);
  spec.organization_id = std::move(organization_id);
  engine.IngestionConfig(std::move(spec));
  return *this;
}

Builder& Builder::Run(std::string name, std::string client_key, std::string run_id,
                      std::string description, std::vector<std::string> tags) {
  engine.Run(RunFromPython(std::move(name), std::move(client_key), std::move(run_id),
                           std::move(description), std::move(tags), "run"));
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
  } else if (mode == "live_with_memory_backups") {
    engine.Mode(StreamMode::kLiveWithMemoryBackups);
  } else {
    throw py::value_error(absl::StrCat(
        "unknown mode '", mode,
        "' (live_with_backups, live_only, backups_only, live_with_memory_backups)"));
  }
  return *this;
}

Builder& Builder::Compress(const std::string& compression) {
  if (compression == "gzip") {
    engine.Compress(Compression::kGzip);
  } else if (compression == "deflate") {
    engine.Compress(Compression::kDeflate);
  } else if (compression == "none") {
    engine.Compress(Compression::kNone);
  } else {
    throw py::value_error(
        absl::StrCat("unknown compression '", compression, "' (gzip, deflate, none)"));
  }
  return *this;
}

// Fields left as None keep the engine's defaults (engine/memory_backup.h).
Builder& Builder::MemoryBackups(py::object max_bytes, py::object checkpoint_max_bytes,
                                py::object chunk_bytes) {
  MemoryBackupPolicy policy;
  if (!max_bytes.is_none()) policy.max_bytes = max_bytes.cast<uint64_t>();
  if (!checkpoint_max_bytes.is_none()) {
    policy.checkpoint_max_bytes = checkpoint_max_bytes.cast<uint64_t>();
  }
  if (!chunk_bytes.is_none()) policy.chunk_bytes = chunk_bytes.cast<size_t>();
  engine.MemoryBackups(policy);
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
  return std::make_shared<Stream>(*std::move(built), api_key, auto_register_flows);
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
           "\"live_with_backups\" (default), \"live_only\", \"backups_only\" or "
           "\"live_with_memory_backups\".")
      .def("compress", &Builder::Compress, py::arg("compression"), self,
           "\"gzip\", \"deflate\" or \"none\" (the default): gRPC message compression.")
      .def("memory_backups", &Builder::MemoryBackups, py::arg("max_bytes") = py::none(),
           py::arg("checkpoint_max_bytes") = py::none(), py::arg("chunk_bytes") = py::none(),
           self, "With mode(\"live_with_memory_backups\"): how much the memory ring holds.")
      .def("no_retries",
           [](Builder& b) -> Builder& {
             b.engine.NoRetries();
             return b;
           },
           self, "Failed checkpoints stay in the backup files (finish_with_report names them).")
      .def("auto_register_flows",
           Chain<bool>([](Builder& b, bool enabled) {
             b.auto_register_flows = enabled;
             b.engine.AutoRegisterFlows(enabled);
           }),
           py::arg("enabled") = true, self,
           "The first send() of an undeclared flow registers it, shaped by its values.")
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
      .def("try_send", &FlowHandle::TrySend, py::arg("timestamp"), py::arg("values"),
           "send() that never waits: False when refused for now (nothing taken; call again).")
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
