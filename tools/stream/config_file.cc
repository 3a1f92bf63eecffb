#include "tools/stream/config_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace sift_stream::tools {
namespace {

// Keeps TextFormat's first error (it prints to stderr otherwise), with its position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error_.empty()) error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status Parse(absl::string_view text, absl::string_view name, StreamConfig* config) {
  const absl::string_view body = absl::StripLeadingAsciiWhitespace(text);
  if (!body.empty() && body.front() == '{') {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(text), config, options);
    if (status.ok()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(name, " (JSON): ", status.ToString()));
  }
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(std::string(text), config)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, " (text format): ", errors.error()));
}

// What the set-up calls would refuse later, said now and about the file.
absl::Status Check(const StreamConfig& config, absl::string_view name) {
  if (config.client_key().empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": client_key is required"));
  if (config.asset_name().empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": asset_name is required"));
  if (config.flows().empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no flows"));
  for (const auto& flow : config.flows()) {
    if (flow.name().empty() || flow.channels().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": every flow needs a name and channels ('", flow.name(), "')"));
    }
    for (const auto& channel : flow.channels()) {
      if (channel.name().empty() || channel.data_type() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": flow '", flow.name(), "': every channel needs a name and a data_type"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StreamConfig> ParseStreamConfig(absl::string_view text, absl::string_view name) {
  StreamConfig config;
  if (absl::Status parsed = Parse(text, name, &config); !parsed.ok()) return parsed;
  if (absl::Status checked = Check(config, name); !checked.ok()) return checked;
  return config;
}

absl::StatusOr<StreamConfig> LoadStreamConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --config=", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseStreamConfig(text.str(), path);
}

}  // namespace sift_stream::tools
