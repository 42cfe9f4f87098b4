#include "experiments.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

// The parts of the experiments that decide what a run does: which platforms
// (wow's once per engine), which engines `--engines` means for a binary, and
// the per-engine knobs of the profiles.

namespace wow::bench::eval {
namespace {

using Names = std::vector<std::string>;

TEST(PlatformIdTest, NamesAndSlugsCarryTheEngine) {
  EXPECT_EQ(PlatformName(PlatformId(PlatformKind::kWowExecutor, "jit")), "wow executor (jit)");
  EXPECT_EQ(PlatformSlug(PlatformId(PlatformKind::kWowExecutor, "jit")), "wow-executor-jit");
  EXPECT_EQ(PlatformName(PlatformId(PlatformKind::kWowServe, "tiered")), "wow serve (tiered)");
  EXPECT_EQ(PlatformSlug(PlatformId(PlatformKind::kWowServe, "tiered")), "wow-serve-tiered");
  // The node's default engine: the names of issue 5's runs.
  EXPECT_EQ(PlatformName(PlatformId(PlatformKind::kWowServe)), "wow serve");
  EXPECT_EQ(PlatformSlug(PlatformId(PlatformKind::kWowServe)), "wow-serve");
  EXPECT_EQ(PlatformName(PlatformKind::kDocker), "Docker");
}

TEST(PlatformIdTest, ComparesByKindThenEngine) {
  EXPECT_EQ(PlatformId(PlatformKind::kDocker), PlatformKind::kDocker);
  EXPECT_NE(PlatformId(PlatformKind::kWowServe, "aot"), PlatformKind::kWowServe);
  EXPECT_LT(PlatformId(PlatformKind::kWowServe, "aot"), PlatformId(PlatformKind::kWowServe, "jit"));
}

TEST(ExpandPlatformsTest, BaselinesOnceWowOncePerEngine) {
  const std::vector<PlatformKind> kinds = {PlatformKind::kDocker, PlatformKind::kProcess, PlatformKind::kWowExecutor,
                                           PlatformKind::kWowServe};
  std::vector<std::string> names;
  for (const auto& id : ExpandPlatforms(kinds, {"aot", "jit"})) names.push_back(PlatformName(id));
  EXPECT_EQ(names, (Names{"Docker", "process", "wow executor (aot)", "wow executor (jit)", "wow serve (aot)",
                          "wow serve (jit)"}));

  names.clear();
  for (const auto& id : ExpandPlatforms(kinds, {})) names.push_back(PlatformName(id));
  EXPECT_EQ(names, (Names{"Docker", "process", "wow executor", "wow serve"}));
}

TEST(ParseEngineChoicesTest, ReadsTheOptionDescription) {
  const std::string help =
      "Run the executor protocol\n"
      "Usage: wow executor [OPTIONS]\n\n"
      "Options:\n"
      "  -h,--help                   Print this help message and exit\n"
      "  --data-dir TEXT [~/.wow]    Where compiled artifacts are cached\n"
      "  --engine TEXT:{aot,interp,jit,tiered}\n"
      "                              Wasm engine: aot, interp, jit, tiered (default: tiered when the C compiler "
      "runs, else jit)\n";
  EXPECT_EQ(ParseEngineChoices(help), (Names{"aot", "interp", "jit", "tiered"}));
}

TEST(ParseEngineChoicesTest, FallsBackToCli11sTypeHint) {
  EXPECT_EQ(ParseEngineChoices("  --engine TEXT:{aot,interp} Wasm engine\n"), (Names{"aot", "interp"}));
}

TEST(ParseEngineChoicesTest, NothingWhenTheBinaryHasNoChoices) {
  // issue 5's wow: "--engine TEXT [aot]  Wasm engine".
  EXPECT_TRUE(ParseEngineChoices("  --engine TEXT [aot]         Wasm engine\n").empty());
  EXPECT_TRUE(ParseEngineChoices("").empty());
}

TEST(ResolveEnginesTest, AllIsEveryChoiceOfTheBinary) {
  const Names choices = {"aot", "interp", "jit", "tiered"};
  auto all = ResolveEngines({"all"}, choices);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, choices);
}

TEST(ResolveEnginesTest, NamesAreCheckedAndDeduplicatedInOrder) {
  const Names choices = {"aot", "interp", "jit", "tiered"};
  auto some = ResolveEngines({"jit", "aot", "jit"}, choices);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (Names{"jit", "aot"}));

  auto unknown = ResolveEngines({"wasmtime"}, choices);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("wasmtime"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("aot, interp, jit, tiered"), std::string::npos);
}

TEST(ResolveEnginesTest, DefaultIsTheNodesEngineAndAllNeedsTheBinarysList) {
  auto none = ResolveEngines({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(ResolveEngines({"all"}, {}).ok());
  // Without a list, named engines pass: the binary refuses what it lacks.
  auto named = ResolveEngines({"jit"}, {});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, (Names{"jit"}));
}

TEST(ProfileTest, InterpreterRunsLessHashWork) {
  const Profile quick = QuickProfile();
  EXPECT_EQ(ParamsFor(quick, PlatformId(PlatformKind::kWowServe, "interp"), "hash"), quick.interp_hash_params);
  EXPECT_EQ(ParamsFor(quick, PlatformId(PlatformKind::kWowExecutor, "interp"), "hash_o0"), quick.interp_hash_params);
  EXPECT_NE(quick.interp_hash_params, quick.hash_params);
  EXPECT_EQ(ParamsFor(quick, PlatformId(PlatformKind::kWowServe, "aot"), "hash"), quick.hash_params);
  EXPECT_EQ(ParamsFor(quick, PlatformKind::kDocker, "hash"), quick.hash_params);
  EXPECT_EQ(ParamsFor(quick, PlatformId(PlatformKind::kWowServe, "interp"), "block"), "{}");
  EXPECT_LE(quick.interp_cpu_runs, quick.cpu_runs);
  const Profile smoke = SmokeProfile();
  EXPECT_NE(smoke.interp_hash_params, smoke.hash_params);
}

TEST(ProfileTest, DeployTakesFewerSamplesOfAotAtOneMegabyte) {
  const Profile quick = QuickProfile();
  EXPECT_EQ(quick.deploy_sizes, (std::vector<size_t>{2'000, 100'000, 1'000'000}));
  EXPECT_EQ(DeploySamples(quick, "aot", 1'000'000), 1);
  EXPECT_EQ(DeploySamples(quick, "aot", 100'000), quick.deploy_samples);
  EXPECT_EQ(DeploySamples(quick, "jit", 1'000'000), quick.deploy_samples);
  EXPECT_EQ(DeploySamples(quick, "tiered", 1'000'000), quick.deploy_samples);
  const Profile smoke = SmokeProfile();
  EXPECT_EQ(smoke.deploy_sizes, (std::vector<size_t>{2'000}));
  EXPECT_EQ(DeploySamples(smoke, "aot", 2'000), 1);
}

TEST(SizeLabelTest, NamesTheSizeClasses) {
  EXPECT_EQ(SizeLabel(2'000), "2 KB");
  EXPECT_EQ(SizeLabel(100'000), "100 KB");
  EXPECT_EQ(SizeLabel(1'000'000), "1 MB");
  EXPECT_EQ(SizeLabel(1'500), "1500 B");
}

}  // namespace
}  // namespace wow::bench::eval
