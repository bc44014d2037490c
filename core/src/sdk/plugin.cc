// The few SDK functions that are not header-only: names of plugin kinds and label schemas.
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/data_pipeline.h"

#include <fmt/format.h>

namespace modelgrow {

const char* PluginKindName(PluginKind kind) {
  switch (kind) {
    case PluginKind::kGrowth:
      return "growth";
    case PluginKind::kText:
      return "text";
    case PluginKind::kData:
      return "data";
    case PluginKind::kVae:
      return "vae";
  }
  return "unknown";
}

bool LabelSchema::IsValidTarget(const std::string& category, int64_t value) const {
  auto it = classes.find(category);
  if (it == classes.end()) return false;
  const int64_t n = static_cast<int64_t>(it->second.size());
  if (!IsMultiLabel(category)) return value >= 0 && value < n;
  return value > 0 && n <= static_cast<int64_t>(kMaxMultiLabelClasses) && value < (int64_t{1} << n);
}

std::string LabelSchema::DescribeTargets(const std::string& category) const {
  auto it = classes.find(category);
  if (it == classes.end()) return "no target (the label schema has no such category)";
  const size_t n = it->second.size();
  if (!IsMultiLabel(category)) return fmt::format("a class index in [0, {})", n);
  return fmt::format(
      "a non-empty set of its {} classes, bit k for class k: an integer in [1, 2^{})", n, n);
}

nlohmann::json LabelSchema::ToJson() const {
  nlohmann::json j = {{"classes", classes}, {"stated_by", stated_by}};
  // Only when used, so schemas without it (and the files and cache keys made from them) read as
  // they always did.
  if (!multi_label.empty()) j["multi_label"] = multi_label;
  return j;
}

LabelSchema LabelSchema::FromJson(const nlohmann::json& j) {
  LabelSchema schema;
  if (!j.is_object() || !j.contains("classes") || !j["classes"].is_object()) {
    throw InputError("a label schema is a JSON object {\"classes\": {...}, \"stated_by\": {...}}");
  }
  try {
    schema.classes = j.at("classes").get<std::map<std::string, std::vector<std::string>>>();
    if (j.contains("stated_by")) {
      schema.stated_by = j.at("stated_by").get<std::map<std::string, std::vector<std::string>>>();
    }
    if (j.contains("multi_label")) {
      schema.multi_label = j.at("multi_label").get<std::set<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("malformed label schema: ") + e.what());
  }
  for (const std::string& category : schema.multi_label) {
    auto it = schema.classes.find(category);
    if (it == schema.classes.end()) {
      throw InputError(fmt::format(
          "label schema: multi_label names '{}', which is not one of its categories", category));
    }
    if (it->second.size() > kMaxMultiLabelClasses) {
      throw InputError(fmt::format(
          "label schema: multi-label category '{}' has {} classes; a set of classes is stored as "
          "the bits of one integer, so at most {}",
          category, it->second.size(), kMaxMultiLabelClasses));
    }
  }
  return schema;
}

}  // namespace modelgrow
