// A scene of the synthetic world: which objects, how they look, where they go. Scenes are drawn
// from a seed alone, so a (seed, index) names one sample forever.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow::synthetic {

// What a domain may draw from (the pipeline's options select these from the vocabularies).
struct WorldSettings {
  std::string domain;
  std::vector<std::string> shapes, colors, backgrounds, motions, sizes, speeds;
  int min_objects = 1;
  int max_objects = 1;
  // "random": a path starts anywhere it fits. "centred": the main object's path has its midpoint
  // near the frame's centre, so the motion word says which side the object starts on.
  std::string paths = "random";
  int64_t frames = 8;
  int64_t height = 32;
  int64_t width = 32;
};

struct SceneObject {
  std::string shape, color, size, motion, speed;
  double radius = 0;                              // pixels
  std::vector<std::array<double, 2>> trajectory;  // centre (x, y) in pixels, per frame
};

struct SceneRelation {
  int subject = 0;
  std::string relation;
  int object = 0;
};

struct Scene {
  std::string domain;
  std::string background;
  std::vector<SceneObject> objects;  // objects[0] is the main object
  std::vector<SceneRelation> relations;
};

// Distance from a shape's centre to its farthest point, in units of its radius.
double ShapeExtent(const std::string& shape);

// Draws a scene: objects with distinct colours that stay inside the frame and never overlap in
// any frame, and (between object 0 and the others) relations that are unambiguous at frame 0.
Scene SampleScene(const WorldSettings& settings, uint64_t seed);

// The labels JSON documented in docs/formats.md.
nlohmann::json SceneLabels(const Scene& scene);

}  // namespace modelgrow::synthetic
