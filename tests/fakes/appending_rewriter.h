// The fake prompt rewriter of the tests: appends fixed words to the prompt. Deterministic and
// instant, so tests of `sample --rewrite-with` and of evaluating rewritten prompts see exactly
// which text reached the encoder. HashedWords offers it as the `test_words` plugin's Rewriter.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/prompt_rewriter.h"

namespace modelgrow::testing {

class AppendingRewriter : public PromptRewriter {
 public:
  // Options: path (accepted, never read) and `append` (the words added after a space).
  explicit AppendingRewriter(const PluginContext& c)
      : path_(c.options.RequireString("path")),
        append_(c.options.String("append", "in great detail")) {}

  void Load() override { loaded_ = true; }
  RewriteResult Rewrite(const std::string& prompt) override {
    if (!loaded_) throw RunError("AppendingRewriter: Rewrite() before Load()");
    RewriteResult r;
    r.text = prompt + " " + append_;
    r.new_tokens = 1;
    r.stopped = true;
    return r;
  }
  std::string CacheKey() const override { return "append-" + append_; }
  nlohmann::json Describe() const override { return {{"append", append_}}; }

 private:
  std::string path_, append_;
  bool loaded_ = false;
};

}  // namespace modelgrow::testing
