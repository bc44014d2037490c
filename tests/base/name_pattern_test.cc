#include "modelgrow/sdk/name_pattern.h"

#include <regex>

#include <gtest/gtest.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/lora.h"

namespace modelgrow {
namespace {

struct Case {
  const char* pattern;
  const char* name;
  bool matches;
};

void ExpectCases(NameScope scope, std::initializer_list<Case> cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(std::regex_match(c.name, DottedNamePattern(c.pattern, scope)), c.matches)
        << "pattern '" << c.pattern << "', name '" << c.name << "'";
  }
}

TEST(DottedNamePattern, ModuleScopeCoversWholeSegmentsOfTheModuleName) {
  ExpectCases(NameScope::kModule,
              {{"attn.proj", "spatial_blocks.0.attn.proj", true},
               {"attn.proj", "attn.proj", true},
               {"attn.proj", "spatial_blocks.0.cross_attn.proj", false},
               // A module, not the parameters in it: LoRA wraps layers.
               {"attn.proj", "spatial_blocks.0.attn.proj.weight", false},
               {"q_linear|kv_linear", "temporal_blocks.2.cross_attn.kv_linear", true},
               {"q_linear|kv_linear", "temporal_blocks.2.cross_attn.kv_linear2", false}});
  // LoRA's target patterns are this scope.
  EXPECT_FALSE(std::regex_match("spatial_blocks.0.cross_attn.proj", LoraTargetRegex("attn.proj")));
  EXPECT_TRUE(std::regex_match("spatial_blocks.0.attn.proj", LoraTargetRegex("attn.proj")));
}

TEST(DottedNamePattern, ModuleAndBelowScopeAlsoTakesWhatIsInside) {
  ExpectCases(NameScope::kModuleAndBelow,
              {{"cross_attn_1", "spatial_blocks.0.cross_attn_1.q_linear.weight", true},
               {"cross_attn_1", "cross_attn_1.proj.bias", true},
               {"cross_attn_1", "spatial_blocks.0.cross_attn.q_linear.weight", false},
               {"attn", "spatial_blocks.0.cross_attn.proj.weight", false},
               {"attn", "spatial_blocks.0.attn.proj.weight", true},
               {"attn.proj", "spatial_blocks.0.attn.proj.weight", true},
               {"attn.proj", "spatial_blocks.0.cross_attn.proj.weight", false},
               {"spatial_blocks\\.[01]", "spatial_blocks.1.mlp.fc1.weight", true},
               {"spatial_blocks\\.[01]", "spatial_blocks.10.mlp.fc1.weight", false},
               {"y_embedder_1.y_proj.fc1.weight", "y_embedder_1.y_proj.fc1.weight", true},
               {"cross_attn_.*", "temporal_blocks.3.cross_attn_2.kv_linear.weight", true},
               // A segment is whole at its end too.
               {"attn", "spatial_blocks.0.attn_norm.weight", false}});
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
