// The validation layer every manifest and plugin option table goes through.
#include <gtest/gtest.h>

#include "modelgrow/sdk/options.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

TEST(Options, ReadsTypedValuesWithDefaults) {
  Options o = Options::ParseString(R"(
depth = 4
lr = 1e-4
steps = 10
name = "x"
flags = [1, 2]
[sub]
on = true
)",
                                   "t.toml");
  EXPECT_EQ(o.Int("depth", 0), 4);
  EXPECT_DOUBLE_EQ(o.Double("lr", 0), 1e-4);
  EXPECT_DOUBLE_EQ(o.Double("steps", 0), 10.0);  // integers are numbers too
  EXPECT_EQ(o.String("name", ""), "x");
  EXPECT_EQ(o.IntList("flags", {}), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(o.Table("sub").Bool("on", false));
  EXPECT_EQ(o.Int("absent", 42), 42);
  o.RejectUnknownKeys();
  EXPECT_NO_THROW(o.ThrowIfProblems());
}

TEST(Options, ReportsEveryProblemAtOnceWithPositionsAndKeyPaths) {
  Options o = Options::ParseString(R"([model]
depth = "four"
hiden_size = 64
heads = -1
[train]
lr = 0.1
)",
                                   "exp.toml");
  Options model = o.Table("model");
  model.Int("depth", 1);
  model.Int("hidden_size", 1);
  model.Int("heads", 1, {.min = 1});
  model.RejectUnknownKeys();
  Options train = o.Table("train");
  train.RequireInt("steps");
  train.Double("lr", 0);
  try {
    o.ThrowIfProblems();
    FAIL() << "expected problems";
  } catch (const ValidationError& e) {
    ASSERT_EQ(e.problems().size(), 4u) << e.what();
    std::string text = e.what();
    EXPECT_NE(text.find("exp.toml:2:9: model.depth: expected an integer, got string"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("exp.toml:3:1: model.hiden_size: unknown key 'hiden_size'; did you mean "
                        "'hidden_size'?"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("model.heads: expected an integer >= 1, got -1"), std::string::npos)
        << text;
    EXPECT_NE(text.find("exp.toml:5:1: train.steps: missing required key"), std::string::npos)
        << text;
  }
}

// TOML spells NaN `nan`; it compares false with every bound, so a range check alone would let it
// through (and a report would then record "noise_std": "NaN").
TEST(Options, NanIsNeverANumber) {
  Options o = Options::ParseString("a = nan\nb = nan\nc = [1.0, nan]\nd = inf\n", "n.toml");
  EXPECT_EQ(o.Double("a", 0.5), 0.5);
  EXPECT_EQ(o.Double("b", 0.5, {.min = 0, .max = 1}), 0.5);
  o.DoubleList("c", {});
  EXPECT_EQ(o.Double("d", 0.5, {.max = 10}), 0.5);
  EXPECT_THROW_WITH(o.ThrowIfProblems(), ValidationError,
                    "n.toml:1:5: a: expected a number, got nan",
                    "n.toml:2:5: b: expected a number, got nan",
                    "n.toml:3:", "c:", "n.toml:4:5: d: expected a number in");
}

TEST(Options, ChoiceListsTheAllowedValues) {
  Options o = Options::ParseString("placement = \"insrt\"\n", "g.toml");
  o.Choice("placement", "insert", {"insert", "prefix", "suffix"});
  EXPECT_THROW_WITH(o.ThrowIfProblems(), ValidationError, "g.toml:1:13",
                    "'insert', 'prefix', 'suffix'", "did you mean 'insert'?");
}

TEST(Options, SyntaxErrorsHaveAPosition) {
  EXPECT_THROW_WITH(Options::ParseString("a = 1\nb = [1,\n", "bad.toml"), ValidationError,
                    "bad.toml:", "TOML syntax error");
}

TEST(Options, SetParsesTomlValuesAndBareStrings) {
  Options o = Options::ParseString("[a]\nx = 1\n", "s.toml");
  EXPECT_TRUE(o.Set("a.x", "5"));
  EXPECT_TRUE(o.Set("a.y", "[1, 2, 3]"));
  EXPECT_TRUE(o.Set("b.name", "stack"));
  EXPECT_TRUE(o.Set("b.flag", "true"));
  EXPECT_EQ(o.Table("a").Int("x", 0), 5);
  EXPECT_EQ(o.Table("a").IntList("y", {}).size(), 3u);
  EXPECT_EQ(o.Table("b").String("name", ""), "stack");
  EXPECT_TRUE(o.Table("b").Bool("flag", false));
  EXPECT_FALSE(o.Set("a.x.z", "1"));  // a.x is an integer, not a table
  EXPECT_TRUE(o.HasProblems());
}

TEST(Options, CanonicalTomlIsStableAndCloneIsIndependent) {
  Options a = Options::ParseString("b = 2\na = 1\n\n[t]\n  z = 'q'\n", "x");
  Options b = Options::ParseString("a = 1\nb = 2\n[t]\nz = 'q'\n", "y");
  EXPECT_EQ(a.ToToml(), b.ToToml());
  Options c = a.Clone();
  c.Set("a", "9");
  EXPECT_EQ(a.Int("a", 0), 1);
  EXPECT_EQ(c.Int("a", 0), 9);
}

// A value set from the command line is reported at the text that set it, not at the line the key
// had in the file (nor at "file:1:5", where "v = " ended in the parsed override).
TEST(Options, ProblemsWithOverriddenValuesNameTheOverride) {
  Options o = Options::ParseString("# a comment line\n[train]\nsteps = 3\nlr = 0.1\n", "m.toml");
  o.Set("train.steps", "ten", "--set #2 'train.steps=ten'");
  o.Set(" train . lr ", "  0.5  ");  // blanks around the parts and the value do not count
  Options train = o.Table("train");
  train.Int("steps", 0);
  EXPECT_DOUBLE_EQ(train.Double("lr", 0), 0.5);
  train.RejectUnknownKeys();
  try {
    o.ThrowIfProblems();
    FAIL() << "expected a ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.problems().size(), 1u);
    EXPECT_NE(
        std::string(e.what()).find("--set #2 'train.steps=ten': train.steps: expected an integer"),
        std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("m.toml"), std::string::npos) << e.what();
  }
  // Copies (plugin option tables are Subsets) keep the override's name.
  Options copy = o.Table("train").Subset();
  copy.Int("steps", 0);
  EXPECT_THROW_WITH(copy.ThrowIfProblems(), ValidationError, "--set #2 'train.steps=ten'");
  // A key that came from the file keeps its file position.
  Options file = Options::ParseString("[train]\nsteps = 'x'\n", "m.toml");
  file.Table("train").Int("steps", 0);
  EXPECT_THROW_WITH(file.ThrowIfProblems(), ValidationError, "m.toml:2:9: train.steps");
}

TEST(Options, CanonicalTomlWritesNumbersAsPeopleDo) {
  Options o = Options::ParseString(
      "lr = 5e-4\nbig = 1e30\nhalf = 0.5\nwhole = 2.0\nn = 3\nname = 'a \"q\"'\n"
      "list = [0.1, 2]\n[t]\ninline = {x = 1.5}\n[[arr]]\nv = 1\n[[arr]]\nv = 2\n",
      "n.toml");
  const std::string toml = o.ToToml();
  EXPECT_NE(toml.find("lr = 0.0005\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("big = 1e+30\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("whole = 2.0\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("list = [0.1, 2]\n"), std::string::npos) << toml;
  EXPECT_EQ(toml.find("00000"), std::string::npos) << toml;
  // What it writes reads back as the same document.
  Options back = Options::ParseString(toml, "back.toml");
  EXPECT_EQ(back.ToToml(), toml);
  EXPECT_DOUBLE_EQ(back.Double("lr", 0), 5e-4);
  EXPECT_EQ(back.String("name", ""), "a \"q\"");
  EXPECT_EQ(back.TableArray("arr").size(), 2u);
  EXPECT_DOUBLE_EQ(back.Table("t").Table("inline").Double("x", 0), 1.5);
}

// Found by fuzz_options: a string that starts with a newline was written as a multi-line string,
// and TOML drops that newline when reading one.
TEST(Options, CanonicalTomlKeepsEveryCharacterOfStringsAndKeys) {
  Options o = Options::ParseString(
      "a = \"\\nstarts with a newline\"\nc = \"tab\\there \\\"q\\\" \\\\ \\u0001 "
      "caf\u00e9\"\n\"key\\nwith newline\" = 1\n[\"t\\n\"]\nx = '\\n'\n",
      "s.toml");
  const std::string toml = o.ToToml();
  Options back = Options::ParseString(toml, "back.toml");
  EXPECT_EQ(back.ToJson(), o.ToJson()) << toml;
  EXPECT_EQ(back.String("a", ""), "\nstarts with a newline") << toml;
  EXPECT_EQ(back.String("c", ""), "tab\there \"q\" \\ \x01 caf\u00e9") << toml;
  EXPECT_EQ(back.Int("key\nwith newline", 0), 1) << toml;
  EXPECT_EQ(back.Table("t\n").String("x", ""), "\\n") << toml;
  EXPECT_EQ(back.ToToml(), toml);
}

TEST(Options, AFolderIsNotAManifest) {
  TempDir dir;
  EXPECT_THROW_WITH(Options::ParseFile(dir.path()), InputError, "is a folder, not a TOML file");
  EXPECT_THROW_WITH(Options::ParseFile(dir / "missing.toml"), InputError, "no such file");
}

TEST(Options, TableArraysReportElementPaths) {
  Options o = Options::ParseString("[[op]]\nname = 1\n[[op]]\nname = 'x'\n", "ops.toml");
  auto ops = o.TableArray("op");
  ASSERT_EQ(ops.size(), 2u);
  ops[0].String("name", "");
  EXPECT_THROW_WITH(o.ThrowIfProblems(), ValidationError, "op[0].name");
}

}  // namespace
}  // namespace modelgrow
