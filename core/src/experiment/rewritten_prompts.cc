#include "rewritten_prompts.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/progress.h"

namespace modelgrow {

namespace fs = std::filesystem;

RewrittenPrompts::RewrittenPrompts(std::shared_ptr<PromptRewriter> rewriter, const fs::path& folder)
    : rewriter_(std::move(rewriter)),
      file_(folder / fmt::format("rewrites-{}.json", rewriter_->CacheKey())) {
  std::error_code ec;
  if (!fs::exists(file_, ec)) return;
  nlohmann::json j = nlohmann::json::parse(ReadFile(file_), nullptr, false);
  // A damaged file is rewritten from scratch; what it held is generated again.
  if (!j.is_object()) return;
  for (const auto& [prompt, text] : j.items()) {
    if (text.is_string()) done_[prompt] = text.get<std::string>();
  }
}

std::vector<std::string> RewrittenPrompts::Rewrite(const std::vector<std::string>& prompts) {
  std::vector<std::string> missing;
  for (const std::string& p : prompts) {
    if (!done_.count(p) && std::find(missing.begin(), missing.end(), p) == missing.end()) {
      missing.push_back(p);
    }
  }
  if (!missing.empty()) {
    Progress progress("rewrite prompts", static_cast<int64_t>(missing.size()));
    int64_t tokens = 0;
    for (size_t i = 0; i < missing.size(); ++i) {
      RewriteResult r = rewriter_->Rewrite(missing[i]);
      tokens += r.new_tokens;
      done_[missing[i]] = r.text;
      progress.Update(static_cast<int64_t>(i + 1), fmt::format("{} tokens", tokens));
    }
    progress.Finish();
    fs::create_directories(file_.parent_path());
    WriteFileAtomic(file_, nlohmann::json(done_).dump(2) + "\n");
  }
  std::vector<std::string> out;
  out.reserve(prompts.size());
  for (const std::string& p : prompts) out.push_back(done_.at(p));
  return out;
}

}  // namespace modelgrow
