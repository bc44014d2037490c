// The synthetic world's labels as evaluation reads them: the classes an attribute classifier
// learns for each category, the categories each caption kind states, and the targets of a scene.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "modelgrow/sdk/data_pipeline.h"
#include "synthetic_scene.h"

namespace modelgrow::synthetic {

// One schema for every domain and option, so classifiers trained on one split score another:
// color, shape and motion over the continual domain's full vocabulary (a superset of the base's),
// count "1".."3", relation "none" / "side by side" / "stacked" (only the arrangement is visible:
// which object is "the main one" is not, so "A left of B" and "B right of A" are one video), and
// the multi-label "colors": the set of colours of a scene's several objects, which is what a
// video shows of "the colour of the second object". Short captions state color, shape and motion;
// detailed ones also count, relation and colors.
const LabelSchema& SyntheticLabelSchema();

// Class index per category the scene's video shows: count and relation always; color, shape and
// motion only when the object is alone (a video does not show which of several is object 0);
// colors (a bit set) only when it is not.
std::map<std::string, int64_t> SceneTargets(const Scene& scene);

}  // namespace modelgrow::synthetic
