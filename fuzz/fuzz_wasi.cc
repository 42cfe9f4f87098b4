// WASI preview1 calls with arbitrary pointers, lengths, flags and paths (src/wasi/wasi_host.h), against a real guest
// memory and a granted directory, as a hostile guest makes them: up to 32 calls per input, each a function of the
// set AddWasiFunctions registers and its arguments, with the guest memory's first KiB (paths, iovecs) from the input.
// The sandbox holds a file, a subdirectory and a symlink pointing out of it; next to it lies an "outside" directory
// with a secret. After every input the target checks confinement itself: the outside is unchanged and nothing
// appeared beside the sandbox, else it aborts (a finding).
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "wasi/wasi_context.h"
#include "wasi/wasi_host.h"
#include "wasm/guest_memory.h"
#include "wasm/host_function.h"

namespace {

namespace fs = std::filesystem;

class VectorMemory : public wow::wasm::GuestMemory {
 public:
  explicit VectorMemory(size_t size) : bytes_(size) {}
  uint8_t* base() const override { return bytes_.data(); }
  uint64_t size() const override { return bytes_.size(); }

 private:
  mutable std::vector<uint8_t> bytes_;
};

constexpr size_t kMemoryBytes = 1 << 16;
constexpr char kSecret[] = "secret";

struct World {
  fs::path root;
  fs::path sandbox;
  fs::path outside;
  wow::wasm::HostFunctions host;
  std::vector<const wow::wasm::HostFunction*> functions;
};

World* MakeWorld() {
  auto* w = new World;  // never destroyed
  w->root = wow::fuzz::MakeTempDir("wasi");
  w->sandbox = w->root / "sandbox";
  w->outside = w->root / "outside";
  fs::create_directory(w->outside);
  std::ofstream(w->outside / "victim") << kSecret;
  wow::wasi::AddWasiFunctions(w->host);
  for (const auto& f : w->host.all()) w->functions.push_back(f.get());
  return w;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

[[noreturn]] void Escaped(const std::string& what) {
  std::fprintf(stderr, "fuzz_wasi: confinement broken: %s\n", what.c_str());
  std::abort();
}

void CheckConfinement(const World& w) {
  std::error_code ec;
  size_t beside = 0;
  for (const auto& e : fs::directory_iterator(w.root, ec)) {
    if (e.path() != w.sandbox && e.path() != w.outside) Escaped("created " + e.path().string());
    ++beside;
  }
  size_t outside = 0;
  for (const auto& e : fs::directory_iterator(w.outside, ec)) {
    if (e.path().filename() != "victim") Escaped("created " + e.path().string());
    ++outside;
  }
  if (beside != 2 || outside != 1) Escaped("removed something outside the sandbox");
  if (fs::is_symlink(w.outside / "victim") || ReadFile(w.outside / "victim") != kSecret) {
    Escaped("changed " + (w.outside / "victim").string());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = MakeWorld();
  std::error_code ec;
  fs::remove_all(world->sandbox, ec);
  fs::create_directories(world->sandbox / "dir");
  std::ofstream(world->sandbox / "file.txt") << "hello";
  fs::create_directory_symlink("../outside", world->sandbox / "escape", ec);
  fs::create_symlink("/etc/passwd", world->sandbox / "abs", ec);

  wow::wasi::WasiOptions options;
  options.args = {"action"};
  options.env = {"A=b"};
  options.stdin_data = "{\"x\":1}";
  options.preopens.push_back(wow::wasi::Preopen{world->sandbox.string(), "/sandbox"});
  options.preopens.push_back(wow::wasi::Preopen{(world->sandbox / "dir").string(), "/ro", true});
  options.output_limit_bytes = 4096;
  options.max_open_fds = 16;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);  // poll_oneoff's sleeps
  auto ctx = wow::wasi::WasiContext::Create(std::move(options));
  if (!ctx.ok()) {
    std::fprintf(stderr, "fuzz_wasi: %s\n", ctx.status().message().c_str());
    std::abort();
  }

  FuzzedDataProvider in(data, size);
  VectorMemory memory(kMemoryBytes);
  std::vector<uint8_t> init = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 1024));
  std::copy(init.begin(), init.end(), memory.base());
  for (int step = 0; step < 32 && in.remaining_bytes() > 0; ++step) {
    const auto* f = world->functions[in.ConsumeIntegralInRange<size_t>(0, world->functions.size() - 1)];
    std::vector<wow::wasm::RawValue> args;
    for (auto type : f->sig.params) {
      // Mostly small numbers (fds, offsets into the first KiB, lengths, flags), sometimes anything.
      uint64_t v = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, 1100) : in.ConsumeIntegral<uint64_t>();
      if (type == wow::wasm::ValType::kI32) v &= 0xffffffffu;
      args.push_back(v);
    }
    wow::wasm::HostCall call;
    call.memory = &memory;
    call.data = ctx->get();
    std::vector<wow::wasm::RawValue> results(f->sig.results.size());
    wow::wasm::HostAction action = f->fn(call, args, results);
    if (action != wow::wasm::HostAction::kContinue) break;  // proc_exit or a trap ends the guest
  }
  ctx->reset();  // closes the guest's descriptors
  CheckConfinement(*world);
  return 0;
}
