#include "report.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <sstream>

#include "common/files.h"

extern char** environ;

namespace wow::bench::eval {
namespace fs = std::filesystem;

// ---- CSV and JSON -------------------------------------------------------------

namespace {

// Shortest text that reads back as the same double.
std::string ShortestDouble(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string();
}

Status WriteCreatingParents(const fs::path& path, std::string_view content) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) return Status::IoError("cannot create " + path.parent_path().string() + ": " + ec.message());
  return WriteFileAtomically(path, content);
}

bool IsScalar(const boost::json::value& v) { return !v.is_object() && !v.is_array(); }

std::string JsonScalar(const boost::json::value& v) {
  if (!v.is_double()) return boost::json::serialize(v);
  // boost::json writes 1.5 as "1.5E0"; shortest round-trip text diffs better.
  return std::isfinite(v.get_double()) ? ShortestDouble(v.get_double()) : "null";
}

void AppendJson(const boost::json::value& v, int indent, std::string& out);

void AppendScalarArray(const boost::json::array& a, std::string& out) {
  out += '[';
  for (size_t i = 0; i < a.size(); ++i) out += (i == 0 ? "" : ", ") + JsonScalar(a[i]);
  out += ']';
}

void AppendArray(const boost::json::array& a, int indent, std::string& out) {
  if (std::all_of(a.begin(), a.end(), IsScalar)) return AppendScalarArray(a, out);
  const std::string pad(indent + 2, ' ');
  out += "[\n";
  for (size_t i = 0; i < a.size(); ++i) {
    out += pad;
    AppendJson(a[i], indent + 2, out);
    out += i + 1 < a.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + "]";
}

void AppendObject(const boost::json::object& o, int indent, std::string& out) {
  if (o.empty()) {
    out += "{}";
    return;
  }
  const std::string pad(indent + 2, ' ');
  out += "{\n";
  size_t i = 0;
  for (const auto& member : o) {
    out += pad + boost::json::serialize(boost::json::value(member.key())) + ": ";
    AppendJson(member.value(), indent + 2, out);
    out += ++i < o.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + "}";
}

void AppendJson(const boost::json::value& v, int indent, std::string& out) {
  if (v.is_object()) return AppendObject(v.get_object(), indent, out);
  if (v.is_array()) return AppendArray(v.get_array(), indent, out);
  out += JsonScalar(v);
}

}  // namespace

CsvCell::CsvCell(double value) : text_(std::isfinite(value) ? ShortestDouble(value) : std::string()) {}

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string FormatCsv(const std::vector<std::string>& header, const std::vector<CsvRow>& rows) {
  std::string out;
  auto line = [&out](const auto& cells, auto text_of) {
    for (size_t i = 0; i < cells.size(); ++i) out += (i == 0 ? "" : ",") + CsvField(text_of(cells[i]));
    out += '\n';
  };
  line(header, [](const std::string& s) -> const std::string& { return s; });
  for (const CsvRow& row : rows) line(row, [](const CsvCell& c) -> const std::string& { return c.text(); });
  return out;
}

Status WriteCsv(const fs::path& path, const std::vector<std::string>& header, const std::vector<CsvRow>& rows) {
  return WriteCreatingParents(path, FormatCsv(header, rows));
}

std::string FormatJson(const boost::json::value& value) {
  std::string out;
  AppendJson(value, 0, out);
  return out + "\n";
}

Status WriteJson(const fs::path& path, const boost::json::value& value) {
  return WriteCreatingParents(path, FormatJson(value));
}

// ---- gnuplot figures ------------------------------------------------------------

namespace {

// Okabe-Ito colours (distinct for colour-blind readers and in grey print) with
// filled point types; slots 0-3 belong to the platforms of every figure.
constexpr std::array<const char*, 9> kColors = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7",
                                                "#56B4E9", "#000000", "#999999", "#F0E442"};
constexpr std::array<int, 9> kPointTypes = {7, 5, 9, 13, 11, 15, 6, 4, 8};
constexpr std::array<std::string_view, 4> kPlatforms = {"docker", "process", "wow serve", "wow executor"};
// wow's platforms per engine ("wow serve (jit)"): the engine's colour; wow
// serve solid with filled points, wow executor dashed with open points.
constexpr std::array<std::string_view, 4> kEngines = {"aot", "jit", "interp", "tiered"};
constexpr std::array<size_t, 4> kEngineColors = {2, 3, 4, 6};  // indexes into kColors
constexpr std::array<int, 4> kEngineFilledPoints = {9, 13, 11, 15};
constexpr std::array<int, 4> kEngineOpenPoints = {8, 12, 10, 14};

// How one series is drawn.
struct SeriesStyle {
  size_t color = 0;  // index into kColors
  int point_type = 7;
  int dash_type = 1;   // 1 solid, 2 dashed
  double fill = 0.85;  // bars' fill density
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The fixed style of a platform's series, or of a wow platform on one engine.
std::optional<SeriesStyle> KnownStyle(std::string_view label) {
  const std::string lower = Lower(label);
  if (const auto it = std::find(kPlatforms.begin(), kPlatforms.end(), lower); it != kPlatforms.end()) {
    const size_t slot = static_cast<size_t>(it - kPlatforms.begin());
    return SeriesStyle{slot, kPointTypes[slot]};
  }
  for (std::string_view wow : {std::string_view("wow serve"), std::string_view("wow executor")}) {
    const std::string prefix = std::string(wow) + " (";
    if (!lower.starts_with(prefix) || !lower.ends_with(")")) continue;
    const std::string engine = lower.substr(prefix.size(), lower.size() - prefix.size() - 1);
    const auto it = std::find(kEngines.begin(), kEngines.end(), engine);
    if (it == kEngines.end()) return std::nullopt;
    const size_t e = static_cast<size_t>(it - kEngines.begin());
    const bool serve = wow == "wow serve";
    return SeriesStyle{kEngineColors[e], serve ? kEngineFilledPoints[e] : kEngineOpenPoints[e], serve ? 1 : 2,
                       serve ? 0.85 : 0.45};
  }
  return std::nullopt;
}

// Known series keep their style; others take the free colours in order.
std::vector<SeriesStyle> AssignStyles(const std::vector<PlotSeries>& series) {
  std::vector<bool> used(kColors.size(), false);
  for (const PlotSeries& s : series) {
    if (auto style = KnownStyle(s.label)) used[style->color] = true;
  }
  std::vector<SeriesStyle> styles;
  size_t next = 0;
  for (const PlotSeries& s : series) {
    if (auto style = KnownStyle(s.label)) {
      styles.push_back(*style);
      continue;
    }
    while (next < used.size() && used[next]) ++next;
    const size_t slot = next < used.size() ? next++ : styles.size() % kColors.size();
    styles.push_back(SeriesStyle{slot, kPointTypes[slot]});
  }
  return styles;
}

// A gnuplot single-quoted string: no escapes inside, a quote is doubled.
std::string Quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    if (c != '\n' && c != '\r') out += c;
  }
  return out + "'";
}

std::string UsingColumn(const PlotColumn& column) {
  if (const int* index = std::get_if<int>(&column)) return std::to_string(*index);
  return "(column(" + Quote(std::get<std::string>(column)) + "))";
}

// The column's value inside a gnuplot expression.
std::string ColumnValue(const PlotColumn& column) {
  if (const int* index = std::get_if<int>(&column)) return "column(" + std::to_string(*index) + ")";
  return "column(" + Quote(std::get<std::string>(column)) + ")";
}

std::string XticColumn(const PlotColumn& column) {
  if (const int* index = std::get_if<int>(&column)) return "xtic(" + std::to_string(*index) + ")";
  return "xtic(stringcolumn(" + Quote(std::get<std::string>(column)) + "))";
}

// `path` relative to `base` when it can be, so the results directory can move.
std::string RelativePath(const fs::path& path, const fs::path& base) {
  const fs::path absolute = fs::absolute(path).lexically_normal();
  const fs::path relative = absolute.lexically_relative(fs::absolute(base).lexically_normal());
  return relative.empty() ? absolute.string() : relative.string();
}

std::string RangeText(const PlotRange& range) {
  auto end = [](const std::optional<double>& v) { return v ? ShortestDouble(*v) : std::string("*"); };
  return "[" + end(range.min) + ":" + end(range.max) + "]";
}

Status CheckSpec(const PlotSpec& spec) {
  if (spec.series.empty()) return Status::InvalidArgument("plot " + spec.output.string() + ": no series");
  if (spec.output.empty()) return Status::InvalidArgument("plot '" + spec.title + "': no output path");
  if (spec.width < 100 || spec.height < 100) return Status::InvalidArgument("plot: size below 100x100");
  for (const PlotSeries& s : spec.series) {
    if (s.y_low.has_value() != s.y_high.has_value()) {
      return Status::InvalidArgument("plot series '" + s.label + "': y_low and y_high go together");
    }
    if (s.csv.empty()) return Status::InvalidArgument("plot series '" + s.label + "': no CSV file");
  }
  return Status::Ok();
}

bool HasErrors(const PlotSeries& s) { return s.y_low.has_value(); }

void AppendPreamble(const PlotSpec& spec, const fs::path& script_path, const fs::path& base, std::ostringstream& gp) {
  std::string comment = spec.title.empty() ? spec.output.filename().string() : spec.title;
  std::replace_if(
      comment.begin(), comment.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  gp << "# " << comment << "\n"
     << "# Generated by wow's evaluation harness. Re-plot from this directory: gnuplot "
     << Quote(script_path.filename().string()) << "\n"
     << "set terminal pngcairo size " << spec.width << "," << spec.height
     << " noenhanced font 'DejaVu Sans,12' linewidth 1.2\n"
     << "set output " << Quote(RelativePath(spec.output, base)) << "\n"
     << "set datafile separator ','\n"
     << "set datafile columnheaders\n"
     << "set border 3 lw 1\n"
     << "set tics nomirror out\n"
     << "set key outside top center horizontal samplen 2.5 spacing 1.1 width 1\n"
     << "set grid xtics ytics back lt 1 lc rgb '#e3e3e3' lw 1\n";
  if (spec.show_title && !spec.title.empty()) gp << "set title " << Quote(spec.title) << "\n";
  gp << "set xlabel " << Quote(spec.xlabel) << "\nset ylabel " << Quote(spec.ylabel) << "\n";
  if (spec.logscale_x) gp << "set logscale x\n";
  if (spec.logscale_y) gp << "set logscale y\n";
  if (spec.xrange) gp << "set xrange " << RangeText(*spec.xrange) << "\n";
  if (spec.yrange) {
    gp << "set yrange " << RangeText(*spec.yrange) << "\n";
  } else if (spec.kind == PlotKind::kBars && !spec.logscale_y) {
    gp << "set yrange [0:*]\n";  // bars start at zero, not at the smallest bar
  }
}

void AppendStyles(const std::vector<SeriesStyle>& styles, std::ostringstream& gp) {
  for (size_t i = 0; i < styles.size(); ++i) {
    gp << "set style line " << i + 1 << " lc rgb '" << kColors[styles[i].color] << "' lw 2 pt " << styles[i].point_type
       << " ps 1.1 dt " << styles[i].dash_type << "\n";
  }
}

std::string LineWith(PlotKind kind) {
  switch (kind) {
    case PlotKind::kLines: return "lines";
    case PlotKind::kSteps: return "steps";
    default: return "linespoints";
  }
}

// Bands first so that every line is drawn over them; error bars after each line.
std::vector<std::string> XyElements(const PlotSpec& spec, const fs::path& base,
                                    const std::vector<SeriesStyle>& styles) {
  std::vector<std::string> bands, lines;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const PlotSeries& s = spec.series[i];
    const std::string file = Quote(RelativePath(s.csv, base));
    const std::string x = UsingColumn(s.x);
    if (HasErrors(s) && s.error_style == ErrorStyle::kBand) {
      bands.push_back(file + " using " + x + ":" + UsingColumn(*s.y_low) + ":" + UsingColumn(*s.y_high) +
                      " with filledcurves fc rgb '" + kColors[styles[i].color] +
                      "' fs transparent solid 0.18 noborder notitle");
    }
    lines.push_back(file + " using " + x + ":" + UsingColumn(s.y) + " with " + LineWith(spec.kind) + " ls " +
                    std::to_string(i + 1) + " title " + Quote(s.label));
    if (HasErrors(s) && s.error_style == ErrorStyle::kBars) {
      // Vectors with flat heads: gnuplot's yerrorbars leave a gap around the point.
      lines.push_back(file + " using " + x + ":" + UsingColumn(*s.y_low) + ":(0):(" + ColumnValue(*s.y_high) + "-" +
                      ColumnValue(*s.y_low) + ") with vectors heads size screen 0.01,90 ls " + std::to_string(i + 1) +
                      " lw 1.5 dt 1 notitle");
    }
  }
  bands.insert(bands.end(), lines.begin(), lines.end());
  return bands;
}

// A clustered histogram; the first series' x column labels the clusters.
std::vector<std::string> BarElements(const PlotSpec& spec, const fs::path& base, const std::vector<SeriesStyle>& styles,
                                     std::ostringstream& gp) {
  const bool errors = std::any_of(spec.series.begin(), spec.series.end(), HasErrors);
  gp << "set style data histograms\n"
     << "set style histogram clustered gap 1" << (errors ? " errorbars lw 1.2" : "") << "\n"
     << "set style fill solid 0.85 border rgb '#333333'\n"
     << "set grid noxtics\n"
     << "set xtics scale 0\n";
  std::vector<std::string> elements;
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const PlotSeries& s = spec.series[i];
    std::string using_text = UsingColumn(s.y);
    // Errorbar histograms need three columns from every series: no range is y:y:y.
    if (errors)
      using_text += HasErrors(s) ? ":" + UsingColumn(*s.y_low) + ":" + UsingColumn(*s.y_high)
                                 : ":" + UsingColumn(s.y) + ":" + UsingColumn(s.y);
    if (i == 0) using_text += ":" + XticColumn(s.x);
    std::string element = Quote(RelativePath(s.csv, base)) + " using " + using_text + " title " + Quote(s.label) +
                          " lc rgb '" + kColors[styles[i].color] + "'";
    if (styles[i].fill != SeriesStyle{}.fill) {
      element += " fs solid " + ShortestDouble(styles[i].fill) + " border rgb '#333333'";
    }
    elements.push_back(std::move(element));
  }
  return elements;
}

// The full path of an executable `name` on PATH.
std::optional<fs::path> FindOnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    const fs::path candidate = fs::path(dirs.substr(0, colon).empty() ? "." : dirs.substr(0, colon)) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    dirs.remove_prefix(colon + 1);
  }
}

// Runs `program script` in `dir`, returning its exit status and merged output.
Result<std::pair<int, std::string>> RunIn(const fs::path& program, const fs::path& dir, const std::string& script) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  std::string program_text = program.string();
  std::string script_text = script;
  char* argv[] = {program_text.data(), script_text.data(), nullptr};
  pid_t pid = 0;
  const int spawn_error = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (spawn_error != 0) {
    close(fds[0]);
    return Status::IoError("cannot run " + program_text + ": " + std::strerror(spawn_error));
  }
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) output.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return std::make_pair(code, output);
}

}  // namespace

Result<std::string> PlotScript(const PlotSpec& spec, const fs::path& script_path) {
  WOW_RETURN_IF_ERROR(CheckSpec(spec));
  const fs::path base = script_path.has_parent_path() ? script_path.parent_path() : fs::path(".");
  const std::vector<SeriesStyle> styles = AssignStyles(spec.series);
  std::ostringstream gp;
  AppendPreamble(spec, script_path, base, gp);
  AppendStyles(styles, gp);
  const std::vector<std::string> elements =
      spec.kind == PlotKind::kBars ? BarElements(spec, base, styles, gp) : XyElements(spec, base, styles);
  gp << "plot ";
  for (size_t i = 0; i < elements.size(); ++i) gp << (i == 0 ? "" : ", \\\n     ") << elements[i];
  gp << "\n";
  return gp.str();
}

Status WritePlotScript(const PlotSpec& spec, const fs::path& script_path) {
  WOW_ASSIGN_OR_RETURN(std::string script, PlotScript(spec, script_path));
  return WriteCreatingParents(script_path, script);
}

Status RenderPlot(const PlotSpec& spec) {
  fs::path script = spec.output;
  script.replace_extension(".gp");
  WOW_RETURN_IF_ERROR(WritePlotScript(spec, script));
  for (const PlotSeries& s : spec.series) {
    if (!fs::exists(s.csv)) return Status::NotFound("plot " + spec.output.string() + ": no " + s.csv.string());
  }
  std::optional<fs::path> gnuplot = FindOnPath("gnuplot");
  if (!gnuplot) return Status::NotFound("gnuplot not found: install Debian's gnuplot-nox");
  const fs::path dir = fs::absolute(script).parent_path();
  std::error_code ec;
  fs::remove(spec.output, ec);  // a stale PNG must not pass for a new one
  WOW_ASSIGN_OR_RETURN(auto run, RunIn(*gnuplot, dir, script.filename().string()));
  const auto& [code, output] = run;
  if (code != 0) {
    return Status::IoError("gnuplot failed (exit " + std::to_string(code) + ") on " + script.string() + ": " + output);
  }
  // gnuplot only warns about a misspelt column name and plots the rest: refuse that.
  if (output.find("no column with header") != std::string::npos) {
    return Status::InvalidArgument("gnuplot on " + script.string() + ": " + output);
  }
  if (fs::file_size(spec.output, ec) == 0 || ec) {
    return Status::IoError("gnuplot wrote no " + spec.output.string() + ": " + output);
  }
  return Status::Ok();
}

// ---- Markdown ---------------------------------------------------------------------

namespace {

// Display width of UTF-8 text: its code points (no wide characters here).
size_t Columns(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string MarkdownCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool IsNeutral(std::string_view cell) { return cell.empty() || cell == "-" || cell == "n/a" || cell == "—"; }

bool LooksNumeric(std::string_view cell) {
  if (!cell.empty() && (cell.front() == '-' || cell.front() == '+')) cell.remove_prefix(1);
  if (!cell.empty() && cell.front() == '.') cell.remove_prefix(1);
  return !cell.empty() && std::isdigit(static_cast<unsigned char>(cell.front())) != 0;
}

bool IsNumericColumn(const std::vector<std::vector<std::string>>& rows, size_t column) {
  bool any = false;
  for (const auto& row : rows) {
    if (column >= row.size() || IsNeutral(row[column])) continue;
    if (!LooksNumeric(row[column])) return false;
    any = true;
  }
  return any;
}

std::string Pad(const std::string& text, size_t width, bool right) {
  const std::string fill(width - std::min(width, Columns(text)), ' ');
  return right ? fill + text : text + fill;
}

}  // namespace

std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  size_t columns = header.size();
  for (const auto& row : rows) columns = std::max(columns, row.size());
  std::vector<std::vector<std::string>> cells = {header};  // header first; escaped, padded below
  cells.insert(cells.end(), rows.begin(), rows.end());
  std::vector<size_t> widths(columns, 3);
  for (auto& row : cells) {
    row.resize(columns);
    for (size_t c = 0; c < columns; ++c) {
      row[c] = MarkdownCell(row[c]);
      widths[c] = std::max(widths[c], Columns(row[c]));
    }
  }
  std::vector<bool> right(columns);
  for (size_t c = 0; c < columns; ++c) right[c] = IsNumericColumn(rows, c);
  std::string out;
  for (size_t r = 0; r < cells.size(); ++r) {
    out += "|";
    for (size_t c = 0; c < columns; ++c) out += " " + Pad(cells[r][c], widths[c], right[c]) + " |";
    out += "\n";
    if (r != 0) continue;
    out += "|";
    for (size_t c = 0; c < columns; ++c) {
      out += " " + (right[c] ? std::string(widths[c] - 1, '-') + ":" : std::string(widths[c], '-')) + " |";
    }
    out += "\n";
  }
  return out;
}

// ---- the machine -----------------------------------------------------------------

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// Calls `fn(line)` for each line until it returns true.
template <typename Fn>
bool AnyLine(std::string_view text, Fn fn) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    if (fn(text.substr(0, eol))) return true;
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return false;
}

// "key<spaces>: value" lines as in /proc/cpuinfo and /proc/meminfo.
std::optional<std::string_view> ProcValue(std::string_view text, std::string_view key) {
  std::optional<std::string_view> found;
  AnyLine(text, [&](std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || Trim(line.substr(0, colon)) != key) return false;
    found = Trim(line.substr(colon + 1));
    return true;
  });
  return found;
}

// A shell-style os-release value: "...", '...' or bare, with \" \\ \$ \` escapes.
std::string Unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    return std::string(value.substr(1, value.size() - 2));
  }
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) ++i;
    out += value[i];
  }
  return out;
}

std::string ReadOr(const fs::path& path, std::string fallback) {
  Result<std::string> text = ReadFile(path);
  return text.ok() ? std::move(text).value() : std::move(fallback);
}

std::string OrUnknown(std::optional<std::string> value) {
  return value && !value->empty() ? std::move(*value) : "unknown";
}

std::string Gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

}  // namespace

std::optional<std::string> ParseOsPrettyName(std::string_view os_release) {
  std::optional<std::string> name;
  AnyLine(os_release, [&](std::string_view line) {
    line = Trim(line);
    if (!line.starts_with("PRETTY_NAME=")) return false;
    name = Unquote(line.substr(std::strlen("PRETTY_NAME=")));
    return true;
  });
  return name;
}

std::optional<std::string> ParseCpuModel(std::string_view cpuinfo) {
  for (std::string_view key : {"model name", "Model", "Hardware", "cpu model"}) {
    std::optional<std::string_view> value = ProcValue(cpuinfo, key);
    if (value && !value->empty()) return std::string(*value);
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseMemTotalBytes(std::string_view meminfo) {
  std::optional<std::string_view> value = ProcValue(meminfo, "MemTotal");
  if (!value) return std::nullopt;
  uint64_t kib = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), kib);
  if (ec != std::errc() || end == value->data()) return std::nullopt;
  // /proc/meminfo's "kB" are KiB.
  return Trim(std::string_view(end, value->data() + value->size() - end)) == "kB" ? kib * 1024 : kib;
}

std::string FormatUtcIso(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

MachineInfo MachineInfo::Collect() {
  MachineInfo info;
  info.date_utc = FormatUtcIso(std::time(nullptr));
  char host[256] = {};
  info.hostname = gethostname(host, sizeof host - 1) == 0 ? host : "unknown";
  struct utsname uts {};
  info.kernel = uname(&uts) == 0 ? std::string(uts.sysname) + " " + uts.release + " " + uts.machine : "unknown";
  info.os = OrUnknown(ParseOsPrettyName(ReadOr("/etc/os-release", ReadOr("/usr/lib/os-release", ""))));
  info.cpu_model = OrUnknown(ParseCpuModel(ReadOr("/proc/cpuinfo", "")));
  info.online_cores = static_cast<int>(std::max(0L, sysconf(_SC_NPROCESSORS_ONLN)));
  info.memory_bytes = ParseMemTotalBytes(ReadOr("/proc/meminfo", "")).value_or(0);
  return info;
}

std::string MachineInfo::ToMarkdown() const {
  return MarkdownTable({"machine", ""}, {{"date (UTC)", date_utc},
                                         {"host", hostname},
                                         {"OS", os},
                                         {"kernel", kernel},
                                         {"CPU", cpu_model},
                                         {"online cores", std::to_string(online_cores)},
                                         {"memory", Gib(memory_bytes)}});
}

boost::json::value MachineInfo::ToJson() const {
  boost::json::object o;
  o["date_utc"] = date_utc;
  o["hostname"] = hostname;
  o["kernel"] = kernel;
  o["os"] = os;
  o["cpu_model"] = cpu_model;
  o["online_cores"] = online_cores;
  o["memory_bytes"] = memory_bytes;
  return o;
}

// ---- progress ----------------------------------------------------------------------

std::string FormatElapsed(double seconds) {
  const int64_t total = seconds > 0 ? static_cast<int64_t>(seconds) : 0;
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%" PRId64 ":%02d:%02d", total / 3600, static_cast<int>(total / 60 % 60),
                  static_cast<int>(total % 60));
  } else {
    std::snprintf(text, sizeof text, "%02d:%02d", static_cast<int>(total / 60), static_cast<int>(total % 60));
  }
  return text;
}

std::string FormatProgress(const ProgressLine& line) {
  const int width = static_cast<int>(std::to_string(std::max(line.total_steps, 1)).size());
  char step[48];
  std::snprintf(step, sizeof step, "[%*d/%d]", width, line.step, line.total_steps);
  std::string out = step;
  if (!line.what.empty()) out += " " + line.what;
  std::string count = std::to_string(line.done);
  if (line.total > 0) count += "/" + std::to_string(line.total);
  if (!line.unit.empty()) count = line.unit + " " + count;
  if (!line.unit.empty() || line.total > 0 || line.done > 0) out += " · " + count;
  const std::string elapsed = FormatElapsed(line.elapsed_seconds);
  return out + (line.finished ? " · done in " + elapsed : " · " + elapsed + " elapsed");
}

namespace {

// `line` cut to `columns` display columns: a wrapped line cannot be redrawn with \r.
std::string FitTerminal(std::string line, std::FILE* out) {
  winsize ws{};
  if (ioctl(fileno(out), TIOCGWINSZ, &ws) != 0 || ws.ws_col < 2) return line;
  size_t columns = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;
    if (++columns == ws.ws_col) return line.substr(0, i);  // leaves the last column free
  }
  return line;
}

}  // namespace

Progress::Progress(int total_steps, ProgressOptions options)
    : total_steps_(total_steps),
      options_(options),
      tty_(options.tty.value_or(options.out != nullptr && isatty(fileno(options.out)) != 0)) {}

Progress::~Progress() {
  std::lock_guard lock(mu_);
  EndLocked();
}

double Progress::Now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Progress::Begin(std::string what, std::string unit, int64_t total) {
  std::lock_guard lock(mu_);
  EndLocked();
  ++step_;
  running_ = true;
  what_ = std::move(what);
  unit_ = std::move(unit);
  total_ = total;
  done_ = 0;
  started_ = Now();
  PrintLocked(false);
}

void Progress::Advance(int64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  MaybePrint();
}

void Progress::Set(int64_t done) {
  done_.store(done, std::memory_order_relaxed);
  MaybePrint();
}

void Progress::End() {
  std::lock_guard lock(mu_);
  EndLocked();
}

void Progress::Note(std::string_view message) {
  std::lock_guard lock(mu_);
  if (options_.out == nullptr) return;
  std::string text = tty_ ? "\r\033[K" : "";
  text.append(message);
  text += '\n';
  std::fputs(text.c_str(), options_.out);
  if (tty_ && running_) PrintLocked(false);  // redraw the line the note replaced
  std::fflush(options_.out);
}

// Cheap for worker threads: a lock only when an update is due.
void Progress::MaybePrint() {
  if (Now() < next_print_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mu_);
  if (running_ && Now() >= next_print_.load(std::memory_order_relaxed)) PrintLocked(false);
}

void Progress::PrintLocked(bool finished) {
  const double now = Now();
  next_print_.store(now + (tty_ ? options_.tty_interval_seconds : options_.plain_interval_seconds),
                    std::memory_order_relaxed);
  if (options_.out == nullptr) return;
  ProgressLine line{step_, total_steps_, what_, unit_, done_.load(), total_, now - started_, finished};
  std::string text = FormatProgress(line);
  if (tty_) text = "\r" + FitTerminal(std::move(text), options_.out) + "\033[K";
  if (!tty_ || finished) text += '\n';
  std::fputs(text.c_str(), options_.out);
  std::fflush(options_.out);
}

void Progress::EndLocked() {
  if (!running_) return;
  PrintLocked(true);
  running_ = false;
}

}  // namespace wow::bench::eval
