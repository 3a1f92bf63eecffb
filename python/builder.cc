// python/builder.cc — see builder.h. Every method returns the builder, so calls chain;
// arguments are checked at the call (options.h), so that a bad value raises at the line that
// passed it rather than at build().

#include "python/builder.h"

#include <pybind11/stl.h>

#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sift_stream.h"
#include "python/errors.h"
#include "python/flow_spec.h"
#include "python/options.h"
#include "python/stream.h"

namespace sift_stream::python {
namespace {

namespace py = pybind11;

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
  Builder& Sync(py::handle policy, py::handle every, py::handle every_bytes);
  Builder& Retry(bool live, py::handle max_attempts, py::handle initial_backoff,
                 py::handle max_backoff, py::handle multiplier, py::handle jitter);
  Builder& ExistingIngestionConfig(std::string ingestion_config_id);
  Builder& ServeMetrics(std::string host_port);
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
    policy.max_file_size_bytes = CountArg(max_file_size_bytes, "max_file_size_bytes", 1);
  }
  if (!max_file_count.is_none()) {
    policy.max_file_count = static_cast<int>(
        CountArg(max_file_count, "max_file_count", 1, std::numeric_limits<int>::max()));
  }
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
  if (!max_bytes.is_none()) policy.max_bytes = CountArg(max_bytes, "max_bytes", 1);
  if (!checkpoint_max_bytes.is_none()) {
    policy.checkpoint_max_bytes = CountArg(checkpoint_max_bytes, "checkpoint_max_bytes", 0);
  }
  if (!chunk_bytes.is_none()) policy.chunk_bytes = CountArg(chunk_bytes, "chunk_bytes", 1);
  engine.MemoryBackups(policy);
  return *this;
}

Builder& Builder::Sync(py::handle policy, py::handle every, py::handle every_bytes) {
  engine.Sync(SyncFromPython(policy, every, every_bytes));
  return *this;
}

// Fields left as None keep the engine's defaults (engine/ingestion_task.h), whichever of the
// two policies is set: calling one never changes the other.
Builder& Builder::Retry(bool live, py::handle max_attempts, py::handle initial_backoff,
                        py::handle max_backoff, py::handle multiplier, py::handle jitter) {
  const RetryPolicy retry =
      RetryFromPython(max_attempts, initial_backoff, max_backoff, multiplier, jitter,
                      live ? "live_retry" : "reingest_retry");
  if (live) {
    engine.LiveRetry(retry);
  } else {
    engine.ReingestRetry(retry);
  }
  return *this;
}

// The engine reads an empty id as "make the set-up calls": from Python, leaving the call out
// says that, so an empty id here is a mistake (an unset variable) and raises.
Builder& Builder::ExistingIngestionConfig(std::string ingestion_config_id) {
  if (ingestion_config_id.empty()) {
    ThrowIfError(absl::InvalidArgumentError(
                     "existing_ingestion_config() needs an ingestion config id; leave the call "
                     "out to have build() make or find the config"),
                 "");
  }
  engine.ExistingIngestionConfig(std::move(ingestion_config_id));
  return *this;
}

// Empty is "no server" to the engine; likewise a mistake from Python (see above). A malformed
// address or a port in use fails build(), where the engine listens.
Builder& Builder::ServeMetrics(std::string host_port) {
  if (host_port.empty()) {
    ThrowIfError(absl::InvalidArgumentError(
                     "serve_metrics() needs \"ip:port\", e.g. \"127.0.0.1:9464\" (port 0 "
                     "picks a free one)"),
                 "");
  }
  engine.ServeMetrics(std::move(host_port));
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

// A one-argument setter as a Builder method that returns the builder, so calls chain.
template <typename Arg, typename F>
auto Chain(F setter) {
  return [setter](Builder& b, Arg arg) -> Builder& {
    setter(b, std::move(arg));
    return b;
  };
}

}  // namespace

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
           Chain<py::handle>([](Builder& b, py::handle s) {
             b.engine.CheckpointInterval(DurationArg(s, "checkpoint_interval"));
           }),
           py::arg("seconds"), self, "Seconds (float or int) or a datetime.timedelta.")
      .def("ack_timeout",
           Chain<py::handle>([](Builder& b, py::handle s) {
             b.engine.AckTimeout(DurationArg(s, "ack_timeout"));
           }),
           py::arg("seconds"), self, "Seconds (float or int) or a datetime.timedelta.")
      .def("data_capacity",
           Chain<py::handle>([](Builder& b, py::handle n) {
             b.engine.DataCapacity(CountArg(n, "data_capacity", 1));
           }),
           py::arg("messages"), self)
      .def("max_message_bytes",
           Chain<py::handle>([](Builder& b, py::handle n) {
             b.engine.MaxMessageBytes(CountArg(n, "max_message_bytes", 1));
           }),
           py::arg("bytes"), self)
      .def("sync", &Builder::Sync, py::arg("policy") = py::none(), py::kw_only(),
           py::arg("every") = py::none(), py::arg("every_bytes") = py::none(), self,
           "When backup files are fdatasync'ed: \"on_flush\" (the default), \"never\", "
           "every=<seconds or timedelta> or every_bytes=<n>; exactly one.")
      .def("live_retry",
           [](Builder& b, py::handle max_attempts, py::handle initial_backoff,
              py::handle max_backoff, py::handle multiplier, py::handle jitter) -> Builder& {
             return b.Retry(true, max_attempts, initial_backoff, max_backoff, multiplier,
                            jitter);
           },
           py::kw_only(), py::arg("max_attempts") = py::none(),
           py::arg("initial_backoff") = py::none(), py::arg("max_backoff") = py::none(),
           py::arg("multiplier") = py::none(), py::arg("jitter") = py::none(), self,
           "Backoff between live stream attempts; None keeps a field's default.")
      .def("reingest_retry",
           [](Builder& b, py::handle max_attempts, py::handle initial_backoff,
              py::handle max_backoff, py::handle multiplier, py::handle jitter) -> Builder& {
             return b.Retry(false, max_attempts, initial_backoff, max_backoff, multiplier,
                            jitter);
           },
           py::kw_only(), py::arg("max_attempts") = py::none(),
           py::arg("initial_backoff") = py::none(), py::arg("max_backoff") = py::none(),
           py::arg("multiplier") = py::none(), py::arg("jitter") = py::none(), self,
           "Backoff between re-ingestion attempts of a checkpoint; None keeps a field's default.")
      .def("reingest_rate_limit",
           Chain<py::handle>([](Builder& b, py::handle rate) {
             b.engine.ReingestRateLimit(RateArg(rate, "reingest_rate_limit"));
           }),
           py::arg("messages_per_second"), self,
           "Caps re-ingestion and start-up recovery at this rate; 0 (the default): no cap.")
      .def("existing_ingestion_config", &Builder::ExistingIngestionConfig,
           py::arg("ingestion_config_id"), self,
           "Skips the set-up calls and streams into this config (its flows must be "
           "ingestion_config's).")
      .def("serve_metrics", &Builder::ServeMetrics, py::arg("host_port"), self,
           "Serves /metrics (Prometheus) and /status over HTTP on \"ip:port\" (port 0: any "
           "free one; see Stream.metrics_address).")
      .def("build", &Builder::Build,
           "Makes the set-up calls and starts the stream (the GIL is released meanwhile).");
}

}  // namespace sift_stream::python
