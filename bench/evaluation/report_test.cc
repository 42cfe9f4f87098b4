#include "report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "stats.h"
#include "workload.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;

// ---- CSV and JSON ----

TEST(CsvTest, QuotesPerRfc4180) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
}

TEST(CsvTest, FormatsNumbersAndRows) {
  const std::string csv =
      FormatCsv({"platform", "clients", "p50_ms", "note"}, {{"Docker", 1, 812.5, "cold, first"},
                                                            {"wow serve", int64_t{64}, 0.1, ""},
                                                            {std::string("process"), 2u, std::nan(""), "\"q\""}});
  EXPECT_EQ(csv,
            "platform,clients,p50_ms,note\n"
            "Docker,1,812.5,\"cold, first\"\n"
            "wow serve,64,0.1,\n"
            "process,2,,\"\"\"q\"\"\"\n");
}

TEST(CsvTest, WritesFileCreatingDirectories) {
  TempDir dir("eval-report");
  const fs::path path = dir.path() / "a" / "b" / "t.csv";
  ASSERT_TRUE(WriteCsv(path, {"x", "y"}, {{1, 2.5}}).ok());
  Result<std::string> text = ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "x,y\n1,2.5\n");
}

TEST(JsonTest, PrettyAndRoundTrips) {
  boost::json::object o;
  o["name"] = "cold start";
  o["p50"] = 1.5;
  o["nan"] = std::nan("");
  o["counts"] = boost::json::array{1, 2, 3};
  o["runs"] = boost::json::array{boost::json::object{{"clients", 1}}, boost::json::object{}};
  const std::string text = FormatJson(o);
  EXPECT_EQ(text,
            "{\n"
            "  \"name\": \"cold start\",\n"
            "  \"p50\": 1.5,\n"
            "  \"nan\": null,\n"
            "  \"counts\": [1, 2, 3],\n"
            "  \"runs\": [\n"
            "    {\n"
            "      \"clients\": 1\n"
            "    },\n"
            "    {}\n"
            "  ]\n"
            "}\n");
  const boost::json::value back = boost::json::parse(text);
  EXPECT_EQ(back.at("p50").as_double(), 1.5);
  EXPECT_EQ(back.at("counts").as_array().size(), 3u);

  TempDir dir("eval-report");
  ASSERT_TRUE(WriteJson(dir.path() / "r.json", o).ok());
  EXPECT_EQ(*ReadFile(dir.path() / "r.json"), text);
}

// ---- Markdown ----

TEST(MarkdownTest, AlignedTable) {
  const std::string table =
      MarkdownTable({"platform", "p50 ms", "speed-up"}, {{"Docker", "812.5", "1.0x"}, {"wow serve", "0.9", "n/a"}});
  EXPECT_EQ(table,
            "| platform  | p50 ms | speed-up |\n"
            "| --------- | -----: | -------: |\n"
            "| Docker    |  812.5 |     1.0x |\n"
            "| wow serve |    0.9 |      n/a |\n");
}

TEST(MarkdownTest, EscapesAndPadsRaggedRows) {
  const std::string table = MarkdownTable({"a", "b"}, {{"x|y"}, {"µs", "2", "extra"}});
  EXPECT_EQ(table,
            "| a    |   b |       |\n"
            "| ---- | --: | ----- |\n"
            "| x\\|y |     |       |\n"
            "| µs   |   2 | extra |\n");
}

// ---- the machine ----

TEST(MachineTest, ParsesOsRelease) {
  EXPECT_EQ(ParseOsPrettyName("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ParseOsPrettyName("PRETTY_NAME='Single quoted'\n"), "Single quoted");
  EXPECT_EQ(ParseOsPrettyName("PRETTY_NAME=Bare"), "Bare");
  EXPECT_EQ(ParseOsPrettyName("PRETTY_NAME=\"Say \\\"x\\\"\""), "Say \"x\"");
  EXPECT_EQ(ParseOsPrettyName("NAME=x\n"), std::nullopt);
}

TEST(MachineTest, ParsesCpuinfo) {
  const char* x86 =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\n"
      "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n\n"
      "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
  EXPECT_EQ(ParseCpuModel(x86), "Intel(R) Xeon(R) CPU @ 2.20GHz");
  EXPECT_EQ(ParseCpuModel("processor : 0\nBogoMIPS : 108.00\n\nHardware : BCM2835\nModel : Raspberry Pi 4 Model B\n"),
            "Raspberry Pi 4 Model B");
  EXPECT_EQ(ParseCpuModel("processor : 0\n"), std::nullopt);
}

TEST(MachineTest, ParsesMeminfo) {
  EXPECT_EQ(ParseMemTotalBytes("MemTotal:        8029844 kB\nMemFree:  1 kB\n"), uint64_t{8029844} * 1024);
  EXPECT_EQ(ParseMemTotalBytes("MemFree: 1 kB\n"), std::nullopt);
  EXPECT_EQ(ParseMemTotalBytes("MemTotal: lots\n"), std::nullopt);
}

TEST(MachineTest, CollectsThisMachine) {
  EXPECT_EQ(FormatUtcIso(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtcIso(1714566896), "2024-05-01T12:34:56Z");
  const MachineInfo info = MachineInfo::Collect();
  EXPECT_EQ(info.date_utc.size(), 20u);
  EXPECT_FALSE(info.hostname.empty());
  EXPECT_TRUE(info.kernel.starts_with("Linux ")) << info.kernel;
  EXPECT_GE(info.online_cores, 1);
  EXPECT_GT(info.memory_bytes, 0u);
  const std::string md = info.ToMarkdown();
  EXPECT_NE(md.find("| online cores |"), std::string::npos) << md;
  EXPECT_NE(md.find(" GiB "), std::string::npos) << md;
  EXPECT_EQ(info.ToJson().at("online_cores").as_int64(), info.online_cores);
}

// ---- progress ----

TEST(ProgressTest, FormatsLines) {
  EXPECT_EQ(FormatProgress({3, 12, "cold start · docker", "round", 4, 8, 41.7, false}),
            "[ 3/12] cold start · docker · round 4/8 · 00:41 elapsed");
  EXPECT_EQ(FormatProgress({12, 12, "memory", "", 5, 0, 3725, true}), "[12/12] memory · 5 · done in 1:02:05");
  EXPECT_EQ(FormatProgress({1, 3, "build", "", 0, 0, 0, false}), "[1/3] build · 00:00 elapsed");
  EXPECT_EQ(FormatProgress({1, 3, "load", "", 10, 100, 61, false}), "[1/3] load · 10/100 · 01:01 elapsed");
  EXPECT_EQ(FormatElapsed(-3), "00:00");
  EXPECT_EQ(FormatElapsed(599.9), "09:59");
}

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
  return out;
}

TEST(ProgressTest, PlainOutputIsRateLimited) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(2, {.out = out, .tty = false, .plain_interval_seconds = 3600});
    progress.Begin("throughput · docker", "request", 4000);
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) progress.Advance();
      });
    }
    for (auto& w : workers) w.join();
    progress.Note("a note");
    progress.Begin("memory", "container", 3);  // ends the first step
    progress.Set(2);
  }  // the destructor ends the second step
  const std::string text = ReadAll(out);
  std::fclose(out);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << text;
  EXPECT_NE(text.find("[1/2] throughput · docker · request 0/4000 · 00:00 elapsed\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a note\n"), std::string::npos);
  EXPECT_NE(text.find("[1/2] throughput · docker · request 4000/4000 · done in"), std::string::npos) << text;
  EXPECT_NE(text.find("[2/2] memory · container 2/3 · done in"), std::string::npos) << text;
}

TEST(ProgressTest, TtyRedrawsOneLine) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress progress(1, {.out = out, .tty = true, .tty_interval_seconds = 0});
    progress.Begin("cold start", "round", 2);
    progress.Advance();
    progress.Advance();
    progress.End();
  }
  const std::string text = ReadAll(out);
  std::fclose(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 4) << text;
  EXPECT_NE(text.find("\r[1/1] cold start · round 1/2 · 00:00 elapsed\033[K"), std::string::npos);
  EXPECT_TRUE(text.ends_with("· done in 00:00\033[K\n")) << text;
}

// ---- gnuplot ----

TEST(PlotTest, ScriptUsesRelativePathsAndPlatformStyles) {
  TempDir dir("eval-plot");
  PlotSpec spec;
  spec.title = "cold start";
  spec.xlabel = "concurrent requests";
  spec.ylabel = "latency (ms)";
  spec.output = dir.path() / "fig.png";
  spec.series = {{"wow serve", dir.path() / "data" / "w.csv", 1, "p50", "p50", "p90", ErrorStyle::kBand},
                 {"it's other", dir.path() / "o.csv"},
                 {"Docker", dir.path() / "d.csv", "clients", 3}};
  Result<std::string> script = PlotScript(spec, dir.path() / "fig.gp");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  const std::string& gp = *script;
  EXPECT_NE(gp.find("set output 'fig.png'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("'data/w.csv' using 1:(column('p50')):(column('p90')) with filledcurves"), std::string::npos) << gp;
  EXPECT_NE(gp.find("title 'it''s other'"), std::string::npos) << gp;
  // Docker keeps its blue, wow serve its green; the other series takes a free slot.
  EXPECT_NE(gp.find("set style line 1 lc rgb '#009E73'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 2 lc rgb '#E69F00'"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 3 lc rgb '#0072B2'"), std::string::npos) << gp;
  EXPECT_EQ(gp.find("set title"), std::string::npos);

  spec.series[0].y_high.reset();
  EXPECT_FALSE(PlotScript(spec, dir.path() / "fig.gp").ok());
  spec.series.clear();
  EXPECT_FALSE(PlotScript(spec, dir.path() / "fig.gp").ok());
}

TEST(PlotTest, WowPlatformsPerEngineTakeTheEnginesColourAndThePlatformsLine) {
  TempDir dir("eval-plot-engines");
  PlotSpec spec;
  spec.output = dir.path() / "fig.png";
  spec.series = {{"wow serve (jit)", dir.path() / "a.csv"}, {"wow executor (jit)", dir.path() / "b.csv"},
                 {"wow serve (aot)", dir.path() / "c.csv"}, {"wow executor (tiered)", dir.path() / "d.csv"},
                 {"Docker", dir.path() / "e.csv"},          {"wow serve (wasmtime)", dir.path() / "f.csv"}};
  Result<std::string> script = PlotScript(spec, dir.path() / "fig.gp");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  const std::string& gp = *script;
  // jit: vermilion; wow serve solid with a filled diamond, wow executor dashed with an open one.
  EXPECT_NE(gp.find("set style line 1 lc rgb '#D55E00' lw 2 pt 13 ps 1.1 dt 1"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 2 lc rgb '#D55E00' lw 2 pt 12 ps 1.1 dt 2"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 3 lc rgb '#009E73' lw 2 pt 9 ps 1.1 dt 1"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 4 lc rgb '#000000' lw 2 pt 14 ps 1.1 dt 2"), std::string::npos) << gp;
  EXPECT_NE(gp.find("set style line 5 lc rgb '#0072B2'"), std::string::npos) << gp;
  // An engine without a style takes the first free colour (process's orange: no process here).
  EXPECT_NE(gp.find("set style line 6 lc rgb '#E69F00'"), std::string::npos) << gp;

  spec.kind = PlotKind::kBars;
  script = PlotScript(spec, dir.path() / "fig.gp");
  ASSERT_TRUE(script.ok());
  // Bars: wow executor's lighter than wow serve's.
  EXPECT_NE(script->find("title 'wow executor (jit)' lc rgb '#D55E00' fs solid 0.45"), std::string::npos) << *script;
  EXPECT_NE(script->find("title 'wow serve (jit)' lc rgb '#D55E00',"), std::string::npos) << *script;
}

// Writes the figures' kinds of data for the four platforms.
struct FigureData {
  std::vector<PlotSeries> cold, throughput, ecdf, memory;
};

FigureData WriteFigureData(const fs::path& dir) {
  const std::vector<std::pair<std::string, double>> platforms = {
      {"Docker", 900}, {"process", 25}, {"wow serve", 1.2}, {"wow executor", 0.8}};
  FigureData data;
  Rng rng(5);
  for (const auto& [name, base] : platforms) {
    std::string file = name;
    std::replace(file.begin(), file.end(), ' ', '-');
    std::vector<CsvRow> cold, tput, ecdf_rows;
    for (int clients : {1, 2, 4, 8, 16, 32}) {
      const double p50 = base * (1 + 0.15 * clients);
      cold.push_back({clients, p50, p50 * 1.6});
    }
    for (int clients = 1; clients <= 16; ++clients) {
      const double rps = 1000 / base * std::min(clients, 2) * (0.9 + 0.2 * rng.Uniform01());
      tput.push_back({clients, rps, rps * 0.85, rps * 1.1});
    }
    std::vector<double> samples;
    for (int i = 0; i < 5000; ++i) samples.push_back(base * (rng.Bernoulli(0.9) ? 1 : 20) * (0.5 + rng.Uniform01()));
    for (const auto& [x, f] : Ecdf(samples, 300)) ecdf_rows.push_back({x, f});
    EXPECT_TRUE(WriteCsv(dir / (file + "-cold.csv"), {"clients", "p50_ms", "p90_ms"}, cold).ok());
    EXPECT_TRUE(WriteCsv(dir / (file + "-tput.csv"), {"clients", "rps", "rps_low", "rps_high"}, tput).ok());
    EXPECT_TRUE(WriteCsv(dir / (file + "-ecdf.csv"), {"latency_ms", "fraction"}, ecdf_rows).ok());
    EXPECT_TRUE(WriteCsv(dir / (file + "-mem.csv"), {"containers", "mib", "low", "high"},
                         {{"1", base / 10 + 2, base / 10 + 1, base / 10 + 3},
                          {"10", base / 12 + 2, base / 12 + 1, base / 12 + 4},
                          {"100", base / 14 + 2, base / 14 + 1.5, base / 14 + 2.5}})
                    .ok());
    data.cold.push_back({name, dir / (file + "-cold.csv"), "clients", "p50_ms", "p50_ms", "p90_ms", ErrorStyle::kBand});
    data.throughput.push_back({name, dir / (file + "-tput.csv"), 1, 2});
    data.ecdf.push_back({name, dir / (file + "-ecdf.csv"), "latency_ms", "fraction"});
    data.memory.push_back({name, dir / (file + "-mem.csv"), "containers", "mib", "low", "high"});
  }
  data.throughput[0].y_low = 3;  // error bars on one line series
  data.throughput[0].y_high = "rps_high";
  return data;
}

void ExpectPng(const fs::path& png) {
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
  EXPECT_GT(fs::file_size(png), 5000u) << png;
}

TEST(PlotTest, RendersEveryKind) {
  if (access("/usr/bin/gnuplot", X_OK) != 0 && std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "gnuplot not found: install Debian's gnuplot-nox";
  }
  // WOW_EVAL_PLOT_DIR keeps the figures for a look; else a temporary directory.
  TempDir temp("eval-plot");
  const char* keep = std::getenv("WOW_EVAL_PLOT_DIR");
  const fs::path dir = keep != nullptr && *keep != '\0' ? fs::path(keep) : temp.path();
  const FigureData data = WriteFigureData(dir / "data");

  std::vector<PlotSpec> specs(5);
  specs[0] = {.xlabel = "concurrent cold starts",
              .ylabel = "latency (ms), p50 .. p90",
              .output = dir / "lines.png",
              .kind = PlotKind::kLinesPoints,
              .logscale_y = true,
              .series = data.cold};
  specs[1] = {.xlabel = "concurrent clients",
              .ylabel = "throughput (requests/s)",
              .output = dir / "plain-lines.png",
              .kind = PlotKind::kLines,
              .logscale_y = true,
              .series = data.throughput};
  specs[2] = {.xlabel = "latency (ms)",
              .ylabel = "fraction of requests",
              .output = dir / "ecdf.png",
              .kind = PlotKind::kSteps,
              .logscale_x = true,
              .yrange = PlotRange{0, 1},
              .series = data.ecdf};
  specs[3] = {.xlabel = "warm containers",
              .ylabel = "memory per container (MiB)",
              .output = dir / "bars.png",
              .kind = PlotKind::kBars,
              .series = data.memory};
  specs[4] = {.title = "shown title",
              .show_title = true,
              .xlabel = "x",
              .ylabel = "y",
              .output = dir / "sub" / "titled.png",
              .kind = PlotKind::kLinesPoints,
              .xrange = PlotRange{1, {}},
              .series = {data.throughput[2]},
              .width = 640,
              .height = 400};
  for (const PlotSpec& spec : specs) {
    const Status status = RenderPlot(spec);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ExpectPng(spec.output);
    EXPECT_TRUE(fs::exists(fs::path(spec.output).replace_extension(".gp")));
  }
}

TEST(PlotTest, ReportsMissingDataAndGnuplotErrors) {
  TempDir dir("eval-plot");
  PlotSpec spec{.output = dir.path() / "x.png", .series = {{"a", dir.path() / "missing.csv"}}};
  Status status = RenderPlot(spec);
  EXPECT_EQ(status.code(), Code::kNotFound) << status.ToString();

  ASSERT_TRUE(WriteCsv(dir.path() / "a.csv", {"x", "y"}, {{1, 2}}).ok());
  spec.series = {{"a", dir.path() / "a.csv", "no_such_column", 2}};
  status = RenderPlot(spec);
  if (status.code() == Code::kNotFound) GTEST_SKIP() << status.message();
  EXPECT_EQ(status.code(), Code::kIoError) << status.ToString();
  EXPECT_NE(status.message().find("gnuplot"), std::string::npos) << status.message();

  // One good series and one misspelt column: gnuplot would draw half the figure.
  spec.series = {{"a", dir.path() / "a.csv", "x", "y"}, {"b", dir.path() / "a.csv", "x", "yy"}};
  status = RenderPlot(spec);
  EXPECT_EQ(status.code(), Code::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find("no column with header \"yy\""), std::string::npos) << status.message();
}

TEST(PlotTest, MissingGnuplotIsExplained) {
  TempDir dir("eval-plot");
  ASSERT_TRUE(WriteCsv(dir.path() / "a.csv", {"x", "y"}, {{1, 2}}).ok());
  const char* saved = std::getenv("PATH");
  const std::string path = saved != nullptr ? saved : "";
  setenv("PATH", dir.path().c_str(), 1);
  const Status status = RenderPlot({.output = dir.path() / "x.png", .series = {{"a", dir.path() / "a.csv"}}});
  setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(status.code(), Code::kNotFound);
  EXPECT_EQ(status.message(), "gnuplot not found: install Debian's gnuplot-nox");
}

}  // namespace
}  // namespace wow::bench::eval
