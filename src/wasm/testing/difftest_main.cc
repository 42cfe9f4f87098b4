// wow_difftest: differential testing of the engines on generated modules and
// mutations of them (TESTING.md). Exits 1 on any divergence, or when a
// generated module is invalid or does not finish (generator bugs); diverging
// modules are saved for replay (`wow_difftest --replay FILE`).

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "wasm/engine_factory.h"
#include "wasm/testing/differential.h"
#include "wasm/testing/random_module.h"

namespace fs = std::filesystem;
using namespace wow::wasm;
using namespace wow::wasm::testing;

namespace {

struct Counts {
  std::atomic<uint64_t> generated{0}, generated_bad{0}, mutants{0}, mutants_valid{0}, divergences{0},
      inconclusive{0};
};

// A copy of `wasm` with 1-4 bytes changed (never the 8-byte header).
std::vector<uint8_t> Mutate(const std::vector<uint8_t>& wasm, std::mt19937_64& rng) {
  std::vector<uint8_t> m = wasm;
  if (m.size() <= 8) return m;
  int n = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < n; i++) {
    size_t at = 8 + rng() % (m.size() - 8);
    switch (rng() % 3) {
      case 0: m[at] = static_cast<uint8_t>(rng()); break;
      case 1: m[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
      default: m[at] = static_cast<uint8_t>(m[at] + 1 - 2 * (rng() % 2)); break;
    }
  }
  return m;
}

std::vector<uint8_t> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Runs generated Wasm modules and mutations of them on several engines and compares what they do."};
  uint64_t modules = 1000, seed = 1;
  unsigned mutants = 2, jobs = 1;
  std::string engines_text, save_dir = ".", opt_level = "2", replay;
  int64_t deadline_ms = 2000;
  app.add_option("--modules", modules, "generated modules to run (default 1000)");
  app.add_option("--seed", seed, "seed of the first module; module i uses seed+i (default 1)");
  app.add_option("--mutants", mutants, "mutations of each generated module to run too (default 2)");
  app.add_option("--engines", engines_text, "comma-separated engines (default: every engine built in)");
  app.add_option("--jobs", jobs, "modules run at once (default 1)");
  app.add_option("--save-dir", save_dir, "where diverging modules are written (default .)");
  app.add_option("--opt-level", opt_level, "the AoT engine's -O level (default 2, as in production)");
  std::string cc = "cc";
  app.add_option("--cc", cc, "the AoT engine's C compiler (default cc)");
  app.add_option("--deadline-ms", deadline_ms, "each mutant's instance deadline; reaching it is inconclusive (default 2000; generated modules get 60 s)");
  app.add_option("--replay", replay,
                 "run one module (a .wasm file, or a seed's generated module) and print every engine's behaviour");
  std::string write_to;
  app.add_option("--write", write_to, "with --replay: also write the module to this file");
  bool verbose = false;
  app.add_flag("--verbose", verbose, "print each module before running it (finds the one that ended the process)");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> engines = AvailableEngines();
  if (!engines_text.empty()) {
    engines.clear();
    for (size_t pos = 0; pos <= engines_text.size();) {
      size_t comma = engines_text.find(',', pos);
      if (comma == std::string::npos) comma = engines_text.size();
      engines.push_back(engines_text.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  char tmpl[] = "/tmp/wow-difftest-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::cerr << "cannot create a temporary directory\n";
    return 2;
  }
  fs::path data_dir = tmpl;
  EngineOptions eo;
  eo.data_dir = data_dir;
  eo.opt_level = opt_level;
  eo.cc = cc;
  DifferentialOptions dopt;
  dopt.deadline = std::chrono::milliseconds(deadline_ms);
  auto runner = DifferentialRunner::Create(engines, eo, dopt);
  if (!runner.ok()) {
    std::cerr << runner.status().ToString() << "\n";
    return 2;
  }

  if (!replay.empty()) {
    // A file, a seed ("1678") or a seed's mutant ("1678:0").
    std::vector<uint8_t> wasm;
    if (replay.find_first_not_of("0123456789:") == std::string::npos) {
      uint64_t s = std::stoull(replay);
      const std::vector<uint8_t> generated = RandomModule(EntropyFromSeed(s));
      wasm = generated;
      if (size_t colon = replay.find(':'); colon != std::string::npos) {
        std::mt19937_64 rng(s);  // as the run made mutant 0, 1, ...
        for (unsigned long m = 0; m <= std::stoul(replay.substr(colon + 1)); m++) wasm = Mutate(generated, rng);
      }
    } else {
      wasm = ReadFile(replay);
    }
    std::cout << wasm.size() << " bytes\n";
    if (!write_to.empty()) {
      std::ofstream(write_to, std::ios::binary)
          .write(reinterpret_cast<const char*>(wasm.data()), static_cast<std::streamsize>(wasm.size()));
      std::cout << "written to " << write_to << std::endl;
    }
    DifferentialOutcome out = (*runner)->Run(wasm);
    for (const auto& b : out.behaviours) {
      std::cout << b.engine << ": " << (b.loaded ? "loaded" : "not loaded: " + b.load_error)
                << (b.inconclusive ? " (inconclusive)" : "") << ", " << b.observed.size() << " host calls, "
                << b.memory.size() << " bytes of memory\n";
      for (const auto& c : b.calls) std::cout << "  " << c << "\n";
    }
    std::cout << (out.divergence.empty() ? "no divergence" : "DIVERGENCE: " + out.divergence) << "\n";
    fs::remove_all(data_dir);
    return out.divergence.empty() ? 0 : 1;
  }

  Counts counts;
  std::mutex out_mu;
  auto report = [&](const std::vector<uint8_t>& wasm, const std::string& what, const std::string& name) {
    fs::path file = fs::path(save_dir) / (name + ".wasm");
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(wasm.data()),
                                                static_cast<std::streamsize>(wasm.size()));
    std::lock_guard<std::mutex> lock(out_mu);
    std::cout << name << ": " << what << " (saved as " << file.string() << ")" << std::endl;
  };
  std::atomic<uint64_t> next{0};
  auto start = std::chrono::steady_clock::now();
  auto work = [&] {
    for (uint64_t i; (i = next.fetch_add(1)) < modules;) {
      uint64_t s = seed + i;
      std::vector<uint8_t> wasm = RandomModule(EntropyFromSeed(s));
      if (verbose) std::cout << "module " << s << std::endl;
      DifferentialOutcome out = (*runner)->Run(wasm, kRandomModuleDeadline);
      counts.generated++;
      std::string name = fmt::format("module-{}", s);
      if (!out.divergence.empty()) {
        counts.divergences++;
        report(wasm, "divergence: " + out.divergence, name);
      } else if (!out.valid || out.inconclusive) {
        counts.generated_bad++;
        report(wasm, out.valid ? "generated module did not finish" : "generated module invalid: " +
                                                                          out.behaviours[0].load_error, name);
      }
      std::mt19937_64 rng(s);
      for (unsigned m = 0; m < mutants; m++) {
        std::vector<uint8_t> mutant = Mutate(wasm, rng);
        if (verbose) std::cout << "module " << s << " mutant " << m << std::endl;
        DifferentialOutcome mo = (*runner)->Run(mutant);
        counts.mutants++;
        counts.mutants_valid += mo.valid;
        counts.inconclusive += mo.inconclusive;
        if (!mo.divergence.empty()) {
          counts.divergences++;
          report(mutant, "divergence: " + mo.divergence, fmt::format("{}-mutant-{}", name, m));
        }
      }
      uint64_t done = counts.generated.load();
      if (done % 100 == 0) {
        std::lock_guard<std::mutex> lock(out_mu);
        std::cout << done << " modules..." << std::endl;
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned j = 0; j < std::max(1u, jobs); j++) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fs::remove_all(data_dir);

  std::string engine_list;
  for (const auto& e : engines) engine_list += (engine_list.empty() ? "" : ",") + e;
  std::cout << fmt::format(
      "engines {}: {} generated modules ({} invalid or unfinished), {} mutants ({} valid, {} inconclusive), "
      "{} divergences, {:.0f} s\n",
      engine_list, counts.generated.load(), counts.generated_bad.load(), counts.mutants.load(),
      counts.mutants_valid.load(), counts.inconclusive.load(), counts.divergences.load(), seconds);
  return counts.divergences == 0 && counts.generated_bad == 0 ? 0 : 1;
}
