// Prompts rewritten by a PromptRewriter, kept in a JSON file per rewriter (keyed by its
// CacheKey), so every run, seed and baseline of an experiment that evaluates the same held-out
// prompts pays for each rewrite once.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modelgrow/sdk/prompt_rewriter.h"

namespace modelgrow {

class RewrittenPrompts {
 public:
  // `folder`: where rewrites-<CacheKey>.json lives. The rewriter must be loaded.
  RewrittenPrompts(std::shared_ptr<PromptRewriter> rewriter, const std::filesystem::path& folder);

  // The rewrite of each prompt; new ones are generated (with a progress line) and saved.
  std::vector<std::string> Rewrite(const std::vector<std::string>& prompts);

 private:
  std::shared_ptr<PromptRewriter> rewriter_;
  std::filesystem::path file_;
  std::map<std::string, std::string> done_;
};

}  // namespace modelgrow
