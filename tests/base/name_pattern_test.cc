#include "modelgrow/sdk/name_pattern.h"

#include <regex>

#include <gtest/gtest.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/lora.h"

namespace modelgrow {
namespace {

bool Matches(const std::string& pattern, NameScope scope, const std::string& name) {
  return std::regex_match(name, DottedNamePattern(pattern, scope));
}

TEST(DottedNamePattern, ModuleScopeCoversWholeSegmentsOfTheModuleName) {
  constexpr NameScope kModule = NameScope::kModule;
  EXPECT_TRUE(Matches("attn.proj", kModule, "spatial_blocks.0.attn.proj"));
  EXPECT_TRUE(Matches("attn.proj", kModule, "attn.proj"));
  EXPECT_FALSE(Matches("attn.proj", kModule, "spatial_blocks.0.cross_attn.proj"));
  // A module, not the parameters in it: LoRA wraps layers.
  EXPECT_FALSE(Matches("attn.proj", kModule, "spatial_blocks.0.attn.proj.weight"));
  EXPECT_TRUE(Matches("q_linear|kv_linear", kModule, "temporal_blocks.2.cross_attn.kv_linear"));
  EXPECT_FALSE(Matches("q_linear|kv_linear", kModule, "temporal_blocks.2.cross_attn.kv_linear2"));
  // LoRA's target patterns are this scope.
  EXPECT_FALSE(std::regex_match("spatial_blocks.0.cross_attn.proj", LoraTargetRegex("attn.proj")));
  EXPECT_TRUE(std::regex_match("spatial_blocks.0.attn.proj", LoraTargetRegex("attn.proj")));
}

TEST(DottedNamePattern, ModuleAndBelowScopeAlsoTakesWhatIsInside) {
  constexpr NameScope kBelow = NameScope::kModuleAndBelow;
  EXPECT_TRUE(Matches("cross_attn_1", kBelow, "spatial_blocks.0.cross_attn_1.q_linear.weight"));
  EXPECT_TRUE(Matches("cross_attn_1", kBelow, "cross_attn_1.proj.bias"));
  EXPECT_FALSE(Matches("cross_attn_1", kBelow, "spatial_blocks.0.cross_attn.q_linear.weight"));
  EXPECT_FALSE(Matches("attn", kBelow, "spatial_blocks.0.cross_attn.proj.weight"));
  EXPECT_TRUE(Matches("attn", kBelow, "spatial_blocks.0.attn.proj.weight"));
  EXPECT_TRUE(Matches("attn.proj", kBelow, "spatial_blocks.0.attn.proj.weight"));
  EXPECT_FALSE(Matches("attn.proj", kBelow, "spatial_blocks.0.cross_attn.proj.weight"));
  EXPECT_TRUE(Matches("spatial_blocks\\.[01]", kBelow, "spatial_blocks.1.mlp.fc1.weight"));
  EXPECT_FALSE(Matches("spatial_blocks\\.[01]", kBelow, "spatial_blocks.10.mlp.fc1.weight"));
  EXPECT_TRUE(Matches("y_embedder_1.y_proj.fc1.weight", kBelow, "y_embedder_1.y_proj.fc1.weight"));
  EXPECT_TRUE(Matches("cross_attn_.*", kBelow, "temporal_blocks.3.cross_attn_2.kv_linear.weight"));
  // A segment is whole at its end too.
  EXPECT_FALSE(Matches("attn", kBelow, "spatial_blocks.0.attn_norm.weight"));
}

TEST(DottedNamePattern, ABadRegexIsAnInputErrorQuotingThePatternAsWritten) {
  for (NameScope scope : {NameScope::kModule, NameScope::kModuleAndBelow}) {
    try {
      DottedNamePattern("attn.(qkv", scope);
      FAIL() << "expected InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'attn.(qkv' is not a valid regular expression"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace modelgrow
