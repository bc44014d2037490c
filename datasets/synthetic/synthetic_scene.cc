#include "synthetic_scene.h"

#include <algorithm>
#include <cmath>

#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"
#include "synthetic_vocabulary.h"

namespace modelgrow::synthetic {

namespace {

// Positions are rounded so the labels (written as JSON) and the rendered pixels use exactly the
// same numbers.
double Round4(double v) { return std::round(v * 1e4) / 1e4; }

// A relation is clear when one axis separates the centres at least this much more than the other.
constexpr double kRelationClarity = 1.5;
constexpr int kAttemptsPerShrink = 400;
// With centred paths, the path's midpoint lies within this fraction of the frame's shorter side
// of the centre across the motion, and within a quarter of the travel along it: enough that videos
// of one caption differ, little enough that a moving object always starts on the side opposite its
// motion word and the average video of a caption already moves that way.
constexpr double kCentredJitter = 0.125;

struct Placed {
  double x0, y0, dx, dy, extent;
};

const char* Smaller(const std::string& size) {
  if (size == "large") return "medium";
  if (size == "medium") return "small";
  return nullptr;
}

}  // namespace

double ShapeExtent(const std::string& shape) {
  if (shape == "square") return 0.85 * std::sqrt(2.0);
  if (shape == "triangle") return std::hypot(0.95, 0.8);
  if (shape == "cross") return std::hypot(1.0, 0.33);
  return 1.0;  // circle, diamond, star
}

Scene SampleScene(const WorldSettings& settings, uint64_t seed) {
  DeterministicRng rng(seed);
  Scene scene;
  scene.domain = settings.domain;
  int count = settings.min_objects +
              static_cast<int>(rng.Below(settings.max_objects - settings.min_objects + 1));
  scene.background = rng.Pick(settings.backgrounds);
  std::vector<std::string> colors = settings.colors;
  rng.Shuffle(colors);  // distinct colours: one pixel's colour names its object
  for (int i = 0; i < count; ++i) {
    SceneObject o;
    o.color = colors[i];
    o.shape = rng.Pick(settings.shapes);
    o.size = rng.Pick(settings.sizes);
    o.motion = rng.Pick(settings.motions);
    o.speed = o.motion == "still" ? "none" : rng.Pick(settings.speeds);
    scene.objects.push_back(std::move(o));
  }

  const double side = static_cast<double>(std::min(settings.height, settings.width));
  const double w = static_cast<double>(settings.width), h = static_cast<double>(settings.height);
  const int64_t frames = settings.frames;
  std::vector<Placed> placed;
  for (int attempt = 1;; ++attempt) {
    placed.clear();
    bool fits = true;
    for (SceneObject& o : scene.objects) {
      o.radius = Round4(*SyntheticSizeFraction(o.size) * side);
      std::array<double, 2> dir = *SyntheticMotionDirection(o.motion);
      double travel = *SyntheticSpeedFraction(o.speed) * side;
      Placed p{0, 0, Round4(dir[0] * travel), Round4(dir[1] * travel),
               o.radius * ShapeExtent(o.shape)};
      // The whole path stays inside the frame (with half a pixel to spare).
      double x_lo = p.extent + 0.5 - std::min(0.0, p.dx),
             x_hi = w - p.extent - 0.5 - std::max(0.0, p.dx);
      double y_lo = p.extent + 0.5 - std::min(0.0, p.dy),
             y_hi = h - p.extent - 0.5 - std::max(0.0, p.dy);
      if (x_lo > x_hi || y_lo > y_hi) {
        fits = false;
        p.x0 = p.y0 = 0;
      } else if (settings.paths == "centred" && placed.empty()) {
        double across = rng.Uniform(-kCentredJitter, kCentredJitter) * side;
        double ox, oy;
        if (travel > 0) {
          double along = rng.Uniform(-0.25, 0.25) * travel;
          ox = along * dir[0] - across * dir[1];
          oy = along * dir[1] + across * dir[0];
        } else {
          ox = across;
          oy = rng.Uniform(-kCentredJitter, kCentredJitter) * side;
        }
        p.x0 = Round4(std::clamp(w / 2 - p.dx / 2 + ox, x_lo, x_hi));
        p.y0 = Round4(std::clamp(h / 2 - p.dy / 2 + oy, y_lo, y_hi));
      } else {
        p.x0 = Round4(rng.Uniform(x_lo, x_hi));
        p.y0 = Round4(rng.Uniform(y_lo, y_hi));
      }
      placed.push_back(p);
    }
    for (size_t i = 0; fits && i < placed.size(); ++i) {
      for (size_t j = i + 1; fits && j < placed.size(); ++j) {
        const Placed &a = placed[i], &b = placed[j];
        for (int64_t t = 0; t < frames && fits; ++t) {
          double f = frames > 1 ? static_cast<double>(t) / (frames - 1) : 0.0;
          double dist =
              std::hypot(a.x0 + a.dx * f - b.x0 - b.dx * f, a.y0 + a.dy * f - b.y0 - b.dy * f);
          fits = dist > a.extent + b.extent + 1.0;
        }
      }
      if (i > 0 && fits) {
        double sx = std::abs(placed[0].x0 - placed[i].x0),
               sy = std::abs(placed[0].y0 - placed[i].y0);
        fits = std::max(sx, sy) >= kRelationClarity * std::min(sx, sy);
      }
    }
    if (fits) break;
    if (attempt % kAttemptsPerShrink == 0) {
      // Crowded: make the largest object one size smaller (the labels say so), and when every
      // object is already small, drop the last one.
      SceneObject* largest = nullptr;
      for (SceneObject& o : scene.objects) {
        if (Smaller(o.size) &&
            std::find(settings.sizes.begin(), settings.sizes.end(), Smaller(o.size)) !=
                settings.sizes.end() &&
            (!largest || *SyntheticSizeFraction(o.size) > *SyntheticSizeFraction(largest->size)))
          largest = &o;
      }
      if (largest) {
        largest->size = Smaller(largest->size);
      } else if (scene.objects.size() > 1) {
        scene.objects.pop_back();
      } else if (attempt > 20 * kAttemptsPerShrink) {
        throw InputError("synthetic world: a frame of " + std::to_string(settings.width) + "x" +
                         std::to_string(settings.height) + " cannot hold a moving object");
      }
    }
  }

  for (size_t i = 0; i < scene.objects.size(); ++i) {
    const Placed& p = placed[i];
    SceneObject& o = scene.objects[i];
    for (int64_t t = 0; t < frames; ++t) {
      double f = frames > 1 ? static_cast<double>(t) / (frames - 1) : 0.0;
      o.trajectory.push_back({Round4(p.x0 + p.dx * f), Round4(p.y0 + p.dy * f)});
    }
  }
  for (size_t j = 1; j < scene.objects.size(); ++j) {
    const auto& a = scene.objects[0].trajectory[0];
    const auto& b = scene.objects[j].trajectory[0];
    scene.relations.push_back({0, SyntheticRelation(a[0], a[1], b[0], b[1]), static_cast<int>(j)});
  }
  return scene;
}

nlohmann::json SceneLabels(const Scene& scene) {
  nlohmann::json objects = nlohmann::json::array();
  for (const SceneObject& o : scene.objects) {
    nlohmann::json trajectory = nlohmann::json::array();
    for (const auto& c : o.trajectory) trajectory.push_back({c[0], c[1]});
    objects.push_back({{"shape", o.shape},
                       {"color", o.color},
                       {"size", o.size},
                       {"motion", o.motion},
                       {"speed", o.speed},
                       {"trajectory", std::move(trajectory)},
                       {"radius", o.radius}});
  }
  nlohmann::json relations = nlohmann::json::array();
  for (const SceneRelation& r : scene.relations)
    relations.push_back({{"subject", r.subject}, {"relation", r.relation}, {"object", r.object}});
  return {{"domain", scene.domain},
          {"background", scene.background},
          {"count", scene.objects.size()},
          {"objects", std::move(objects)},
          {"relations", std::move(relations)}};
}

}  // namespace modelgrow::synthetic
