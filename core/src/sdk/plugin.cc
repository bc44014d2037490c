// The few SDK functions that are not header-only: names of plugin kinds and label schemas.
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/data_pipeline.h"

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

nlohmann::json LabelSchema::ToJson() const {
  return {{"classes", classes}, {"stated_by", stated_by}};
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
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("malformed label schema: ") + e.what());
  }
  return schema;
}

}  // namespace modelgrow
