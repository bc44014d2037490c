// Manifest validation: everything wrong with a file is reported at once, before any work.
#include <sys/resource.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "cli_util.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::RunCli;
using testing::TempDir;

const char* kGood = R"(
[experiment]
name = "tiny"
seeds = [0, 1]

[model]
preset = "STDiT3-T/2"
text = "words"

[text.words]
plugin = "test_words"
dim = 16

[data.train]
plugin = "test_frames"
size = 32

[data.heldout]
inherit = "train"
split = "heldout"
size = 8

[stages.pretrain]
kind = "pretrain"
data = "train"
steps = 5
[stages.pretrain.optim]
lr = 1e-3

[stages.grow]
kind = "grow"
from = "pretrain"
ops = [{plugin = "counting", factor = 2}]

[stages.finetune]
kind = "continue"
from = "grow"
data = "train"
steps = 3

[stages.eval]
kind = "evaluate"
from = "finetune"
baseline = "pretrain"
domains = {base = "heldout"}
classifier = {data = "train"}

[[sweep.axis]]
name = "lr"
key = "stages.finetune.optim"
values = [{lr = 1e-3}, {lr = 1e-4}]
labels = ["high", "low"]
)";

// Replaces the first `from` in `text` (which must be there) with `to`.
void Replace(std::string& text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_.LoadFrom({EXPERIMENT_TEST_PLUGINS}); }
  std::filesystem::path Write(const std::string& text) {
    std::filesystem::path p = dir_ / "m.toml";
    std::ofstream(p) << text;
    return p;
  }
  PluginRegistry registry_;
  TempDir dir_;
};

TEST_F(ManifestTest, AGoodManifestLoadsWithItsStageOrderAndRuns) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  Manifest m = Manifest::Load(Write(text), {}, &registry_);
  EXPECT_EQ(m.experiment().name, "tiny");
  EXPECT_EQ(m.stage_order(), (std::vector<std::string>{"pretrain", "grow", "finetune", "eval"}));
  EXPECT_EQ(m.data().at("heldout").plugin, "test_frames");  // inherited
  EXPECT_EQ(m.data().at("heldout").options.Int("size", 0), 8);
  EXPECT_EQ(m.stages().at("grow").grow.ops.size(), 1u);
  std::vector<RunSpec> runs = ExpandRuns(m);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(m.RunCount(), 4);
  EXPECT_EQ(runs[0].id, "lr=high,seed=0");
  EXPECT_EQ(runs[3].id, "lr=low,seed=1");
  EXPECT_DOUBLE_EQ(runs[2].doc.AtPath("stages.pretrain.optim").Double("lr", 0), 1e-4);
  for (const RunSpec& run : runs) EXPECT_NO_THROW(Manifest::FromOptions(run.doc, &registry_));
}

TEST_F(ManifestTest, ASweepAxisNamingAMissingKeyFails) {
  // stages.finetune.optim is not in the manifest (finetune uses default optimiser settings).
  EXPECT_THROW_WITH(Manifest::Load(Write(kGood), {}, &registry_), ValidationError,
                    "m.toml:", "sweep.axis[0].key",
                    "'stages.finetune.optim' is not a key of this manifest");
}

// `references` names the values the report's findings compare against: labels of the axis, each
// once. The default is the first value.
TEST_F(ManifestTest, SweepReferencesMustBeLabelsOfTheAxis) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  EXPECT_EQ(Manifest::Load(Write(text), {}, &registry_).sweep()[0].references,
            std::vector<std::string>{"high"});
  std::string two = text;
  Replace(two, "labels = [\"high\", \"low\"]",
          "labels = [\"high\", \"low\"]\nreferences = [\"low\", \"high\"]");
  EXPECT_EQ(Manifest::Load(Write(two), {}, &registry_).sweep()[0].references,
            (std::vector<std::string>{"low", "high"}));
  std::string missing = text;
  Replace(missing, "labels = [\"high\", \"low\"]",
          "labels = [\"high\", \"low\"]\nreferences = \"medium\"");
  EXPECT_THROW_WITH(Manifest::Load(Write(missing), {}, &registry_), ValidationError,
                    "m.toml:", "sweep.axis[0].references",
                    "'medium' is not a value of axis 'lr' (its labels: high, low)");
  std::string twice = text;
  Replace(twice, "labels = [\"high\", \"low\"]",
          "labels = [\"high\", \"low\"]\nreferences = [\"low\", \"low\"]");
  EXPECT_THROW_WITH(Manifest::Load(Write(twice), {}, &registry_), ValidationError,
                    "sweep.axis[0].references", "'low' is named twice");
  std::string none = text;
  Replace(none, "labels = [\"high\", \"low\"]", "labels = [\"high\", \"low\"]\nreferences = []");
  EXPECT_THROW_WITH(Manifest::Load(Write(none), {}, &registry_), ValidationError,
                    "sweep.axis[0].references", "names no value");
}

// [experiment.findings] names more metrics for the findings and contrasts within a run: only
// metrics with a better direction, and a contrast of two that are better the same way.
TEST_F(ManifestTest, FindingsNameMetricsWithADirection) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  std::string good = text;
  Replace(good, "seeds = [0, 1]", R"(seeds = [0, 1]
[experiment.findings]
metrics = ["acc/base/detailed/count", "loss/base/detailed"]
contrasts = [{metric = "acc/base/rewritten/mean", against = "acc/base/short/mean"}])");
  const FindingsSpec findings = Manifest::Load(Write(good), {}, &registry_).experiment().findings;
  EXPECT_EQ(findings.metrics,
            (std::vector<std::string>{"acc/base/detailed/count", "loss/base/detailed"}));
  ASSERT_EQ(findings.contrasts.size(), 1u);
  EXPECT_EQ(findings.contrasts[0].metric, "acc/base/rewritten/mean");
  EXPECT_EQ(findings.contrasts[0].against, "acc/base/short/mean");

  std::string size = text;
  Replace(size, "seeds = [0, 1]", "seeds = [0, 1]\n[experiment.findings]\nmetrics = [\"params\"]");
  EXPECT_THROW_WITH(Manifest::Load(Write(size), {}, &registry_), ValidationError,
                    "m.toml:", "experiment.findings.metrics",
                    "'params' is not a metric with a better direction");
  std::string opposite = text;
  Replace(opposite, "seeds = [0, 1]", R"(seeds = [0, 1]
[experiment.findings]
contrasts = [{metric = "loss/base/detailed", against = "acc/base/detailed/mean"}])");
  EXPECT_THROW_WITH(Manifest::Load(Write(opposite), {}, &registry_), ValidationError,
                    "experiment.findings.contrasts[0].against",
                    "'loss/base/detailed' is better lower and 'acc/base/detailed/mean' better "
                    "higher: their difference is no finding");
  std::string misspelt = text;
  Replace(misspelt, "seeds = [0, 1]", R"(seeds = [0, 1]
[experiment.findings]
contrasts = [{metric = "loss/base/detailed", agianst = "loss/base/short"}])");
  EXPECT_THROW_WITH(Manifest::Load(Write(misspelt), {}, &registry_), ValidationError,
                    "experiment.findings.contrasts[0].against", "missing required key",
                    "unknown key 'agianst'");
}

// Runs are expanded one document each, so a sweep that would make more than kMaxRuns is refused
// before any is made: here 2 seeds x 2 x 2,501 values.
TEST_F(ManifestTest, ASweepOfTooManyRunsIsRefused) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  std::string many =
      "\n[[sweep.axis]]\nname = \"steps\"\nkey = \"stages.pretrain.steps\"\nvalues = [";
  for (int i = 1; i <= 2501; ++i) many += std::to_string(i) + (i < 2501 ? ", " : "]\n");
  text += many;
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {}, &registry_), ValidationError,
                    "m.toml:", "sweep", "make 1e+04 runs, above the limit of 10000");
}

TEST_F(ManifestTest, EveryProblemIsReportedWithItsPosition) {
  std::string text = kGood;
  Replace(text, "steps = 5", "steps = -5");                       // out of range
  Replace(text, "kind = \"evaluate\"", "kind = \"evaluation\"");  // unknown stage kind
  Replace(text, "from = \"grow\"", "from = \"grwo\"");            // unknown stage
  Replace(text, "factor = 2", "factr = 2");                       // operator option
  Replace(text, "size = 32", "size = \"32\"");                    // plugin option type
  Replace(text, "values = [{lr", "valus = [{lr");                 // unknown key
  try {
    Manifest::Load(Write(text), {}, &registry_);
    FAIL() << "expected a ValidationError";
  } catch (const ValidationError& e) {
    std::string msg = e.what();
    for (const char* part :
         {"stages.pretrain.steps: expected an integer >= 0, got -5",
          "stages.eval.kind: expected one of 'pretrain', 'grow', 'continue', 'evaluate', got "
          "'evaluation'",
          "stages.finetune.from: no stage named 'grwo'; did you mean 'grow'?",
          "unknown key 'factr'; did you mean 'factor'?", "growth operator 'counting'",
          "data.train.size: data pipeline 'test_frames': expected an integer, got string",
          "unknown key 'valus'"}) {
      EXPECT_NE(msg.find(part), std::string::npos) << "missing: " << part << "\n" << msg;
    }
    for (const Problem& p : e.problems()) EXPECT_GT(p.where.line, 0) << p.ToString();
  }
}

TEST_F(ManifestTest, UnknownPluginsAndReferencesAreNamed) {
  std::string text = kGood;
  Replace(text, "plugin = \"counting\"", "plugin = \"stak\"");
  Replace(text, "domains = {base = \"heldout\"}", "domains = {base = \"nope\"}");
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {}, &registry_), ValidationError,
                    "no growth plugin named 'stak'", "domain 'base': no data table 'nope'");
}

TEST_F(ManifestTest, StageCyclesAndEvaluationsAsModelsAreRejected) {
  std::string text = kGood;
  Replace(text, "from = \"pretrain\"\nops", "from = \"finetune\"\nops");
  Replace(text, "baseline = \"pretrain\"", "baseline = \"eval\"");
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {}, &registry_), ValidationError,
                    "stages form a cycle", "'eval' is an evaluation; it produces no model");
}

TEST_F(ManifestTest, SetOverridesApplyBeforeValidation) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  Manifest m = Manifest::Load(Write(text), {"stages.pretrain.steps=7"}, &registry_);
  EXPECT_EQ(m.stages().at("pretrain").train.steps, 7);
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {"stages.pretrain.steps=many"}, &registry_),
                    ValidationError, "stages.pretrain.steps", "expected an integer");
}

TEST_F(ManifestTest, ValidateCommandExitCodes) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  std::string plugin_path = std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS;
  auto ok = RunCli(plugin_path + " validate " + Write(text).string());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("4 run(s)"), std::string::npos) << ok.output;
  auto bad = RunCli(plugin_path + " validate " + Write(kGood).string());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("is not a key of this manifest"), std::string::npos) << bad.output;
  EXPECT_EQ(RunCli(plugin_path + " validate /no/such/file.toml").exit_code, 2);
}

// ---------------------------------------------------------------- validation beyond the keys

// The manifest with a working sweep and `ops` in place of the counting operator.
std::string WithOps(const std::string& ops) {
  std::string text = kGood;
  Replace(text, "key = \"stages.finetune.optim\"", "key = \"stages.pretrain.optim\"");
  Replace(text, "ops = [{plugin = \"counting\", factor = 2}]", "ops = " + ops);
  return text;
}

void LoadBuiltPlugin(PluginRegistry& registry, const std::string& file) {
  registry.LoadFile(std::filesystem::path(MODELGROW_PLUGIN_DIR) / file);
}

// `validate` builds [model] without weights and runs every operator's check on the model it
// would grow, so an operator that cannot grow it fails before pre-training, with a position.
TEST_F(ManifestTest, EveryOperatorsCheckRunsOnTheModelItWouldGrow) {
  LoadBuiltPlugin(registry_, "growth_stack.so");
  std::string text = WithOps("[{plugin = \"stack\", new_blocks = 3}]");  // T/2 has N = 2
  EXPECT_THROW_WITH(
      Manifest::Load(Write(text), {}, &registry_), ValidationError,
      "m.toml:" +
          std::to_string(1 + std::count(text.begin(), text.begin() + text.find("ops = ["), '\n')),
      "stages.grow.ops: step 1 ('stack'): new_blocks = 3 does not fit N = 2");
  // The second step is checked on the model the first one grew: doubling makes N = 4, and
  // new_blocks = 3 still does not fit; new_blocks = 4 does.
  EXPECT_THROW_WITH(
      Manifest::Load(Write(WithOps("[{plugin = \"stack\"}, {plugin = \"stack\", new_blocks = 3}]")),
                     {}, &registry_),
      ValidationError, "step 2 ('stack')", "N = 4");
  EXPECT_NO_THROW(
      Manifest::Load(Write(WithOps("[{plugin = \"stack\"}, {plugin = \"stack\", new_blocks = 4}]")),
                     {}, &registry_));
}

long PeakResidentKilobytes() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// The model validation builds lives on the meta device: STDiT3-XL/2 (1.1 B parameters, 4.5 GB in
// fp32) grown to twice its depth costs shapes, not memory.
TEST_F(ManifestTest, ValidatingAnXlModelAllocatesNoWeights) {
  LoadBuiltPlugin(registry_, "growth_stack.so");
  std::string text = WithOps("[{plugin = \"stack\", placement = \"insert\"}]");
  Replace(text, "preset = \"STDiT3-T/2\"", "preset = \"STDiT3-XL/2\"");
  const long before = PeakResidentKilobytes();
  EXPECT_NO_THROW(Manifest::Load(Write(text), {}, &registry_));
  EXPECT_LT(PeakResidentKilobytes() - before, 512 * 1024) << "kilobytes";
}

TEST_F(ManifestTest, AKeyThatEverySweepRunSetsIsNoted) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  // Within what the held-out data holds, so that the sweep's notes are the only ones.
  Replace(text, "domains = {base = \"heldout\"}",
          "domains = {base = \"heldout\"}\nsamples = 8\nloss_samples = 8");
  text += R"(
[[sweep.axis]]
name = "growth"
[[sweep.axis.value]]
label = "none"
set = {"stages.grow.ops" = []}
[[sweep.axis.value]]
label = "counting"
set = {"stages.grow.ops" = [{plugin = "counting", factor = 3}]}
)";
  Manifest m = Manifest::Load(Write(text), {}, &registry_);
  // Both axes set their key in every run: the lr axis (key = ...) and the growth axis.
  ASSERT_EQ(m.notes().size(), 2u);
  EXPECT_NE(m.notes()[0].find("stages.pretrain.optim ("), std::string::npos) << m.notes()[0];
  EXPECT_NE(m.notes()[1].find("stages.grow.ops (" + (dir_ / "m.toml").string() + ":"),
            std::string::npos)
      << m.notes()[1];
  EXPECT_NE(m.notes()[1].find("sweep axis 'growth' in every run"), std::string::npos);
  auto r = RunCli(std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS + " validate " +
                  Write(text).string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("note: stages.grow.ops"), std::string::npos) << r.output;
}

// The host names no plugin: a text table says which plugin it is, and `make` asks that plugin's
// Maker, whose options are checked at validation like any plugin's.
TEST_F(ManifestTest, TextTablesNameTheirPluginAndMakeTablesAreCheckedByTheirMaker) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  std::string no_plugin = text;
  Replace(no_plugin, "plugin = \"test_words\"\n", "");
  EXPECT_THROW_WITH(Manifest::Load(Write(no_plugin), {}, &registry_), ValidationError,
                    "text.words.plugin: missing required key");

  std::string no_maker = text;
  Replace(no_maker, "dim = 16\n", "dim = 16\nmake = {corpus = \"train\"}\n");
  EXPECT_THROW_WITH(Manifest::Load(Write(no_maker), {}, &registry_), ValidationError,
                    "text encoder 'test_words' cannot make models");

  LoadBuiltPlugin(registry_, "text_t5.so");
  std::string bad_make = text;
  Replace(bad_make, "[text.words]\nplugin = \"test_words\"\ndim = 16\n",
          "[text.words]\nplugin = \"t5\"\nmax_length = 16\n"
          "[text.words.make]\ncorpus = [\"train\", \"nope\"]\nd_model = 30\nheads = 4\n"
          "vocab_size = 8\n");
  EXPECT_THROW_WITH(Manifest::Load(Write(bad_make), {}, &registry_), ValidationError,
                    "text.words.make.corpus: no data table 'nope'", "text.words.make.vocab_size",
                    "text.words.make.heads");
}

// ---------------------------------------------------------------- honest overrides

TEST_F(ManifestTest, OverriddenValuesAreReportedWhereTheyWereWritten) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  EXPECT_THROW_WITH(
      Manifest::Load(Write(text), {"stages.finetune.steps=3", "stages.pretrain.steps=ten"},
                     &registry_),
      ValidationError,
      "--set #2 'stages.pretrain.steps=ten': stages.pretrain.steps: expected an "
      "integer");
  // Tables the file lacks are created on the way (the flow table is documented) and blanks
  // around the key and the value do not count.
  Manifest m = Manifest::Load(
      Write(text), {"stages.pretrain.flow.sample_method=uniform", " stages.pretrain.steps = 10 "},
      &registry_);
  EXPECT_EQ(m.stages().at("pretrain").train.flow.sample_method, "uniform");
  EXPECT_EQ(m.stages().at("pretrain").train.steps, 10);
  // A misspelt table is an unknown key with a suggestion, reported at the --set.
  EXPECT_THROW_WITH(
      Manifest::Load(Write(text), {"stages.pretrain.flwo.sample_method=uniform"}, &registry_),
      ValidationError, "--set #1 'stages.pretrain.flwo.sample_method=uniform'",
      "unknown key 'flwo'", "did you mean 'flow'?");
  // A misspelt stage (or data set) is not created half-defined: the override names it.
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {"stages.pretrian.steps=10"}, &registry_),
                    ValidationError, "--set #1 'stages.pretrian.steps=10'",
                    "the manifest has no stage 'pretrian' to change", "did you mean 'pretrain'?");
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {"data.trian.size=10"}, &registry_),
                    ValidationError, "no data set 'trian'");
}

// A sweep sets its keys in its runs after --set: an override the sweep would undo is refused.
TEST_F(ManifestTest, ASetThatASweepWouldReplaceIsAnError) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  EXPECT_THROW_WITH(Manifest::Load(Write(text), {"stages.pretrain.optim.lr=0.1"}, &registry_),
                    ValidationError, "--set #1 'stages.pretrain.optim.lr=0.1'",
                    "sweep axis 'lr' sets 'stages.pretrain.optim'");
}

TEST_F(ManifestTest, ABadSweepValueIsReportedAtTheSweep) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  Replace(text, "values = [{lr = 1e-3}, {lr = 1e-4}]", "values = [{lr = 1e-3}, {lr = \"fast\"}]");
  Manifest m = Manifest::Load(Write(text), {}, &registry_);
  std::vector<RunSpec> runs = ExpandRuns(m);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_NO_THROW(Manifest::FromOptions(runs[0].doc, &registry_));
  const int line = 1 + static_cast<int>(std::count(
                           text.begin(), text.begin() + text.find("values = [{lr"), '\n'));
  EXPECT_THROW_WITH(
      Manifest::FromOptions(runs[2].doc, &registry_), ValidationError,
      "sweep.axis[0].values[1] (" + (dir_ / "m.toml").string() + ":" + std::to_string(line) + ":",
      "stages.pretrain.optim.lr: expected a number");
}

// Evaluation takes at most what a domain's held-out data holds; asking for more is said before
// anything runs, with where the count was written (or that it is the default).
TEST_F(ManifestTest, AnEvaluationAskingForMoreSamplesThanTheDataHoldsIsNoted) {
  std::string text = WithOps("[{plugin = \"counting\", factor = 2}]");
  Replace(text, "domains = {base = \"heldout\"}", "domains = {base = \"heldout\"}\nsamples = 20");
  Manifest m = Manifest::Load(Write(text), {}, &registry_);
  std::vector<std::string> counts;
  for (const std::string& note : m.notes()) {
    if (note.find("asks for more than") != std::string::npos) counts.push_back(note);
  }
  ASSERT_EQ(counts.size(), 2u) << fmt::format("{}", fmt::join(m.notes(), "\n"));
  EXPECT_EQ(counts[0],
            "stages.eval.loss_samples = 64 (the default) asks for more than data 'heldout' "
            "(domain 'base') holds: evaluation uses its 8 samples");
  EXPECT_NE(counts[1].find("stages.eval.samples = 20 (" + (dir_ / "m.toml").string() + ":"),
            std::string::npos)
      << counts[1];
  // Within the data's size: no note.
  Manifest within = Manifest::Load(
      Write(text), {"stages.eval.samples=8", "stages.eval.loss_samples=8"}, &registry_);
  for (const std::string& note : within.notes()) {
    EXPECT_EQ(note.find("asks for more than"), std::string::npos) << note;
  }
  auto r = RunCli(std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS + " validate " +
                  Write(text).string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("note: stages.eval.loss_samples = 64 (the default) asks for more"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace modelgrow
