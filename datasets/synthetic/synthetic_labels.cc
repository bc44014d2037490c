#include "synthetic_labels.h"

#include <algorithm>
#include <vector>

#include "synthetic_vocabulary.h"

namespace modelgrow::synthetic {

const LabelSchema& SyntheticLabelSchema() {
  static const LabelSchema schema = [] {
    const SyntheticVocabulary& v = SyntheticContinualVocabulary();
    LabelSchema s;
    for (const SyntheticColor& color : v.colors) s.classes["color"].push_back(color.name);
    s.classes["shape"] = v.shapes;
    s.classes["motion"] = v.motions;
    for (int n = 1; n <= v.max_objects; ++n) s.classes["count"].push_back(std::to_string(n));
    s.classes["relation"] = {"none", "side by side", "stacked"};
    s.classes["colors"] = s.classes["color"];
    s.multi_label = {"colors"};
    s.stated_by["short"] = {"color", "shape", "motion"};
    s.stated_by["detailed"] = {"color", "shape", "motion", "count", "relation", "colors"};
    return s;
  }();
  return schema;
}

std::map<std::string, int64_t> SceneTargets(const Scene& scene) {
  const LabelSchema& schema = SyntheticLabelSchema();
  std::map<std::string, int64_t> targets;
  auto set = [&](const std::string& category, const std::string& value) {
    const std::vector<std::string>& names = schema.classes.at(category);
    auto it = std::find(names.begin(), names.end(), value);
    if (it != names.end()) targets[category] = it - names.begin();
  };
  const size_t count = scene.objects.size();
  if (count == 1) {
    const SceneObject& alone = scene.objects.front();
    set("color", alone.color);
    set("shape", alone.shape);
    set("motion", alone.motion);
  }
  set("count", std::to_string(count));
  if (count >= 2) {
    const std::vector<std::string>& colors = schema.classes.at("colors");
    int64_t present = 0;
    for (const SceneObject& o : scene.objects) {
      auto it = std::find(colors.begin(), colors.end(), o.color);
      if (it != colors.end()) present |= int64_t{1} << (it - colors.begin());
    }
    targets["colors"] = present;
  }
  // The arrangement of objects 0 and 1, as the relation between them names it.
  std::string relation = "none";
  for (const SceneRelation& r : scene.relations) {
    if (r.subject != 0 || r.object != 1) continue;
    relation = r.relation == "left of" || r.relation == "right of" ? "side by side"
               : r.relation == "above" || r.relation == "below"    ? "stacked"
                                                                   : r.relation;
  }
  set("relation", relation);
  return targets;
}

}  // namespace modelgrow::synthetic
