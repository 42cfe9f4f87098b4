#pragma once

// The evaluation's output (bench/evaluation): CSV and JSON files, gnuplot
// figures in the style of the paper's, Markdown tables, the machine the figures
// were measured on, and a progress display for the long runs. Everything that
// formats is a pure function, covered by bench/evaluation/report_test.cc.

#include <atomic>
#include <boost/json/value.hpp>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

// ---- CSV and JSON -------------------------------------------------------------

// One CSV field: text as given; numbers in their shortest round-trip form
// (std::to_chars), a NaN or infinity as an empty field (gnuplot: missing).
class CsvCell {
 public:
  CsvCell(std::string text) : text_(std::move(text)) {}  // NOLINT: implicit by design
  CsvCell(const char* text) : text_(text) {}             // NOLINT
  CsvCell(std::string_view text) : text_(text) {}        // NOLINT
  CsvCell(double value);                                 // NOLINT
  template <std::integral T>
  CsvCell(T value) : text_(std::to_string(value)) {}  // NOLINT

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};
using CsvRow = std::vector<CsvCell>;

// `text` as an RFC 4180 field: quoted (with quotes doubled) when it contains a
// comma, a quote, CR or LF, else as is.
std::string CsvField(std::string_view text);

// The header line and one line per row, each ended by LF (not RFC 4180's CRLF:
// gnuplot and the Unix tools read LF).
std::string FormatCsv(const std::vector<std::string>& header, const std::vector<CsvRow>& rows);

// FormatCsv into `path` (created with its parent directories, replaced atomically).
Status WriteCsv(const std::filesystem::path& path, const std::vector<std::string>& header,
                const std::vector<CsvRow>& rows);

// Two-space indented JSON with one member or element per line (arrays of
// scalars stay on one line), doubles in shortest round-trip form, non-finite
// doubles as null, and a final newline: easy to diff between runs.
std::string FormatJson(const boost::json::value& value);

// FormatJson into `path` (created with its parent directories, replaced atomically).
Status WriteJson(const std::filesystem::path& path, const boost::json::value& value);

// ---- gnuplot figures ------------------------------------------------------------

enum class PlotKind {
  kLines,        // one line per series
  kLinesPoints,  // lines with a distinct point type per series
  kSteps,        // a step function per series: empirical CDFs
  kBars,         // a clustered histogram: one cluster per row, one bar per series
};

// How a series' y-low/y-high columns are drawn.
enum class ErrorStyle {
  kBars,  // error bars (for kBars: whiskers on the bars)
  kBand,  // a translucent band between low and high, e.g. p50..p90 (not for kBars)
};

// A CSV column: its 1-based number or its name in the header line.
using PlotColumn = std::variant<int, std::string>;

struct PlotSeries {
  std::string label{};          // the legend entry, e.g. "Docker", "wow serve"
  std::filesystem::path csv{};  // a file with a header line, e.g. from WriteCsv
  PlotColumn x = 1;             // kBars: the category label of each cluster
  PlotColumn y = 2;
  std::optional<PlotColumn> y_low{}, y_high{};  // both or neither; absolute y values
  ErrorStyle error_style = ErrorStyle::kBars;
};

// Both ends optional: an absent one is autoscaled.
struct PlotRange {
  std::optional<double> min{}, max{};
};

struct PlotSpec {
  std::string title{};  // a comment in the script; drawn only with show_title (figures carry captions)
  bool show_title = false;
  std::string xlabel{}, ylabel{};
  std::filesystem::path output{};  // the .png
  PlotKind kind = PlotKind::kLinesPoints;
  bool logscale_x = false;  // e.g. ECDFs of latencies spanning microseconds to seconds
  bool logscale_y = false;
  std::optional<PlotRange> xrange{}, yrange{};
  std::vector<PlotSeries> series{};
  int width = 900, height = 560;
};

// A self-contained gnuplot script drawing `spec`. Paths in it (CSVs, the PNG)
// are relative to the script's directory, which gnuplot must run in
// (RenderPlot does); the results directory can thus be moved and re-plotted.
// Series named like the platforms ("Docker", "process", "wow serve", "wow
// executor") keep the same colour and point type in every figure; wow's
// platforms on one engine ("wow serve (jit)") take the engine's colour (aot,
// jit, interp, tiered), wow serve solid with filled points (bars: full),
// wow executor dashed with open points (bars: lighter).
// InvalidArgument for no series, a missing output, or half an error range.
Result<std::string> PlotScript(const PlotSpec& spec, const std::filesystem::path& script_path);

// PlotScript into `script_path` (parent directories created).
Status WritePlotScript(const PlotSpec& spec, const std::filesystem::path& script_path);

// Writes the script next to the PNG (same name, .gp) and runs gnuplot there.
// NotFound when gnuplot is missing ("gnuplot not found: install Debian's
// gnuplot-nox") or a CSV is; IoError with gnuplot's output when it fails;
// InvalidArgument when a column name is not in its CSV's header.
Status RenderPlot(const PlotSpec& spec);

// ---- Markdown ---------------------------------------------------------------------

// A GitHub table with columns padded to equal width; columns whose cells all
// start like a number ("12", "-3.5 ms", "3.2x"; "", "-" and "n/a" aside) are
// right-aligned. '|' is escaped and line breaks become spaces. Rows may be
// shorter or longer than the header (padded with empty cells).
std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// ---- the machine -----------------------------------------------------------------

// Where the figures were measured. Unknown text fields are "unknown".
struct MachineInfo {
  std::string date_utc{};  // ISO 8601, e.g. "2024-05-01T12:34:56Z"
  std::string hostname{};
  std::string kernel{};       // uname: "Linux 6.1.0-18-amd64 x86_64"
  std::string os{};           // /etc/os-release PRETTY_NAME
  std::string cpu_model{};    // /proc/cpuinfo
  int online_cores = 0;       // sysconf(_SC_NPROCESSORS_ONLN)
  uint64_t memory_bytes = 0;  // /proc/meminfo MemTotal

  static MachineInfo Collect();
  // A two-column Markdown table (memory in GiB).
  std::string ToMarkdown() const;
  boost::json::value ToJson() const;
};

// PRETTY_NAME's value (quotes and shell escapes removed), from /etc/os-release text.
std::optional<std::string> ParseOsPrettyName(std::string_view os_release);
// The first "model name" (x86), else "Model"/"Hardware"/"cpu model" (ARM, MIPS ...).
std::optional<std::string> ParseCpuModel(std::string_view cpuinfo);
// MemTotal in bytes.
std::optional<uint64_t> ParseMemTotalBytes(std::string_view meminfo);
// "2024-05-01T12:34:56Z".
std::string FormatUtcIso(std::time_t t);

// ---- progress ----------------------------------------------------------------------

// One progress line's content.
struct ProgressLine {
  int step = 0, total_steps = 0;
  std::string what{};  // e.g. "cold start · docker"
  std::string unit{};  // e.g. "round"; empty: bare counts
  int64_t done = 0;
  int64_t total = 0;  // 0: unknown, shows `done` only
  double elapsed_seconds = 0;
  bool finished = false;  // "done in 00:41" instead of "00:41 elapsed"
};

// "[ 3/12] cold start · docker · round 4/8 · 00:41 elapsed".
std::string FormatProgress(const ProgressLine& line);
// "00:41", "12:03", "1:02:03".
std::string FormatElapsed(double seconds);

struct ProgressOptions {
  std::FILE* out = stdout;
  std::optional<bool> tty{};           // default: isatty(out)
  double plain_interval_seconds = 10;  // not a TTY: at most one update line per interval per step
  double tty_interval_seconds = 0.1;   // a TTY: redraws at most this often
};

// Shows which step of an experiment runs and how far it is. On a TTY one line
// is redrawn in place (\r, clear to end of line); otherwise (logs, CI) a plain
// line is printed at each step's start and end and, in between, at most one per
// interval. Thread-safe: worker threads may call Advance while another Begins.
class Progress {
 public:
  explicit Progress(int total_steps, ProgressOptions options = {});
  ~Progress();  // ends an unfinished step
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Starts the next step (ending the current one), with `total` units of work
  // (0: unknown).
  void Begin(std::string what, std::string unit = "", int64_t total = 0);
  void Advance(int64_t n = 1);
  void Set(int64_t done);
  // Ends the current step with its final line; nothing when none runs.
  void End();
  // Prints a message on its own line without garbling the TTY line.
  void Note(std::string_view message);

 private:
  double Now() const;
  void MaybePrint();
  void PrintLocked(bool finished);
  void EndLocked();

  const int total_steps_;
  const ProgressOptions options_;
  const bool tty_;
  std::mutex mu_;
  int step_ = 0;
  bool running_ = false;
  std::string what_, unit_;
  int64_t total_ = 0;
  double started_ = 0;
  std::atomic<int64_t> done_{0};
  std::atomic<double> next_print_{0};
};

}  // namespace wow::bench::eval
