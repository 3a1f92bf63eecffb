#include "engine/status_page.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sift_stream::engine {
namespace {

double PerSecond(uint64_t from, uint64_t to, absl::Duration window) {
  // Counters never go back; a sample reordering by a racing reader must not show negatives.
  return to > from ? static_cast<double>(to - from) / absl::ToDoubleSeconds(window) : 0.0;
}

std::string Rate(const StatusRates& rates, double value, absl::string_view unit) {
  if (!rates.known) return "&mdash;";
  return absl::StrFormat("%.1f %s/s", value, unit);
}

std::string Row(absl::string_view name, absl::string_view value_html) {
  return absl::StrCat("<tr><th>", HtmlEscape(name), "</th><td>", value_html, "</td></tr>\n");
}

std::string Section(absl::string_view title, absl::string_view rows_html) {
  return absl::StrCat("<h2>", HtmlEscape(title), "</h2>\n<table>\n", rows_html, "</table>\n");
}

std::string RatesSection(const StatusPageData& d) {
  const StatusRates& r = d.rates;
  std::string rows;
  absl::StrAppend(&rows, Row("sent", Rate(r, r.sent_per_second, "msgs")),
                  Row("sent bytes", Rate(r, r.sent_bytes_per_second, "B")),
                  Row("acknowledged live", Rate(r, r.acknowledged_per_second, "msgs")),
                  Row("backed up", Rate(r, r.backed_up_per_second, "msgs")),
                  Row("re-ingested", Rate(r, r.reingested_per_second, "msgs")));
  const std::string window = absl::FormatDuration(absl::Trunc(r.window, absl::Milliseconds(100)));
  const std::string title = r.known ? absl::StrCat("Rates (last ", window, ")") : "Rates";
  return Section(title, rows);
}

std::string BacklogSection(const StatusPageData& d) {
  const SiftStreamMetrics& m = d.metrics;
  // Re-ingested messages of earlier processes were never sent by this one.
  const uint64_t reingested_own =
      m.messages_reingested - std::min(m.messages_reingested, m.messages_recovered);
  const uint64_t confirmed = m.messages_acknowledged + reingested_own;
  const uint64_t unconfirmed = m.messages_sent > confirmed ? m.messages_sent - confirmed : 0;
  std::string rows;
  absl::StrAppend(&rows, Row("send queue", absl::StrCat(m.send_queue_depth, " msgs")),
                  Row("live queue", absl::StrCat(m.live_queue_depth, " msgs")));
  if (!d.backup_dir.empty()) {
    absl::StrAppend(&rows, Row("not yet durable on disk",
                               absl::StrCat(MessagesNotDurable(m), " msgs")));
  }
  absl::StrAppend(&rows, Row("not yet acknowledged by Sift", absl::StrCat(unconfirmed, " msgs")),
                  Row("recovery files pending", absl::StrCat(RecoveryFilesPending(m))));
  return Section("Backlog", rows);
}

std::string CheckpointsSection(const StatusPageData& d) {
  const SiftStreamMetrics& m = d.metrics;
  std::string html = absl::StrCat(
      "<h2>Checkpoints</h2>\n<p>", m.checkpoints_ok, " acknowledged, ", m.checkpoints_failed,
      " failed, last took ", HtmlEscape(absl::FormatDuration(m.last_checkpoint_duration)),
      "; live backoff ", HtmlEscape(absl::FormatDuration(m.current_backoff)), ".</p>\n");
  if (d.checkpoints.empty()) return absl::StrCat(html, "<p>None ended with messages yet.</p>\n");
  absl::StrAppend(&html,
                  "<table>\n<tr><th>#</th><th>ended</th><th>messages</th><th>duration</th>"
                  "<th>outcome</th></tr>\n");
  // Newest first: what changed is at the top.
  for (auto it = d.checkpoints.rbegin(); it != d.checkpoints.rend(); ++it) {
    const absl::Duration ago = d.now - it->ended;
    absl::StrAppend(&html, "<tr class=\"", it->acknowledged ? "ok" : "bad", "\"><td>",
                    it->checkpoint, "</td><td>",
                    HtmlEscape(absl::FormatDuration(absl::Trunc(ago, absl::Milliseconds(100)))),
                    " ago</td><td>", it->messages, "</td><td>",
                    HtmlEscape(absl::FormatDuration(it->duration)), "</td><td>",
                    HtmlEscape(it->detail), "</td></tr>\n");
  }
  return absl::StrCat(html, "</table>\n");
}

std::string DiskSection(const StatusPageData& d) {
  const SiftStreamMetrics& m = d.metrics;
  if (d.memory_backups) {
    return Section(
        "Memory backup",
        absl::StrCat(
            Row("held", absl::StrCat(m.memory_backup_messages, " msgs, ", m.memory_backup_bytes,
                                     " bytes not yet acknowledged")),
            Row("full", m.memory_backup_full
                            ? "<b class=\"bad\">YES: Send refuses until Sift acknowledges</b>"
                            : "no"),
            Row("times found full", absl::StrCat(m.memory_backup_full_stalls)),
            Row("messages lost", m.memory_backup_messages_lost > 0
                                     ? absl::StrCat("<b class=\"bad\">",
                                                    m.memory_backup_messages_lost, "</b>")
                                     : std::string("0"))));
  }
  if (d.backup_dir.empty()) return Section("Backup files", Row("mode", "live only: no backups"));
  std::string rows = Row("directory", HtmlEscape(d.backup_dir));
  absl::StrAppend(
      &rows,
      Row("files on disk",
          d.disk.known ? absl::StrCat(d.disk.files, " files, ", d.disk.bytes, " bytes")
                       : std::string("unreadable")),
      Row("disk full", m.backup_disk_full
                           ? "<b class=\"bad\">YES: Send refuses until space comes back</b>"
                           : "no"),
      Row("times found full", absl::StrCat(m.backup_disk_full_stalls)),
      Row("files created / deleted",
          absl::StrCat(m.backup_files_created, " / ", m.backup_files_deleted)),
      Row("buffered (no O_DIRECT)", absl::StrCat(m.backup_files_buffered)));
  return Section("Backup files", rows);
}

std::string TotalsSection(const SiftStreamMetrics& m) {
  std::string rows;
  absl::StrAppend(&rows, Row("sent", absl::StrCat(m.messages_sent, " msgs, ", m.bytes_sent,
                                                  " bytes")),
                  Row("refused", absl::StrCat(m.messages_refused)),
                  Row("acknowledged live", absl::StrCat(m.messages_acknowledged)),
                  Row("dropped from live queue", absl::StrCat(m.messages_dropped_live)),
                  Row("durable", absl::StrCat(m.messages_durable)),
                  Row("re-ingested", absl::StrCat(m.messages_reingested)),
                  Row("live streams failed / ack timeouts",
                      absl::StrCat(m.live_streams_failed, " / ", m.ack_timeouts)));
  return Section("Totals", rows);
}

constexpr char kStyle[] =
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    ".bad{color:#b00}.ok{color:#060}";

}  // namespace

void RateWindow::Add(absl::Time now, const SiftStreamMetrics& m) {
  samples_.push_back(Sample{now, m.messages_sent, m.bytes_sent, m.messages_acknowledged,
                            m.messages_backed_up, m.messages_reingested});
  // Keep one sample at least `span_` old, so the window covers the whole span.
  while (samples_.size() > 2 && now - samples_[1].at >= span_) samples_.pop_front();
}

StatusRates RateWindow::Rates() const {
  StatusRates rates;
  if (samples_.size() < 2) return rates;
  const Sample& a = samples_.front();
  const Sample& b = samples_.back();
  rates.window = b.at - a.at;
  if (rates.window < absl::Milliseconds(200)) return rates;
  rates.known = true;
  rates.sent_per_second = PerSecond(a.sent, b.sent, rates.window);
  rates.sent_bytes_per_second = PerSecond(a.sent_bytes, b.sent_bytes, rates.window);
  rates.acknowledged_per_second = PerSecond(a.acknowledged, b.acknowledged, rates.window);
  rates.backed_up_per_second = PerSecond(a.backed_up, b.backed_up, rates.window);
  rates.reingested_per_second = PerSecond(a.reingested, b.reingested, rates.window);
  return rates;
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string StatusPageHtml(const StatusPageData& d) {
  const SiftStreamMetrics& m = d.metrics;
  const std::string error =
      m.last_error.empty() ? std::string("none")
                           : absl::StrCat("<span class=\"bad\">", HtmlEscape(m.last_error),
                                          "</span> (", m.errors, " in all)");
  return absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"", kStatusRefreshSeconds, "\">"
      "<title>sift_stream ", HtmlEscape(d.stream_id), "</title><style>", kStyle,
      "</style></head>\n<body>\n<h1>sift_stream ", HtmlEscape(d.stream_id), "</h1>\n<p>",
      "ingestion config ", HtmlEscape(d.ingestion_config_id), ", run ",
      HtmlEscape(d.run_id.empty() ? "(none)" : d.run_id), "; ",
      HtmlEscape(absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", d.now, absl::UTCTimeZone())),
      "</p>\n<p>Last error: ", error, "</p>\n", RatesSection(d), BacklogSection(d),
      CheckpointsSection(d), DiskSection(d), TotalsSection(m),
      "<p><a href=\"/metrics\">/metrics</a> (Prometheus)</p>\n</body></html>\n");
}

}  // namespace sift_stream::engine
