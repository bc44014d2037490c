#include "synthetic_vocabulary.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::synthetic {

namespace {

// Colours far apart in RGB so a classifier (and a test reading one pixel) cannot confuse them;
// backgrounds are dark or muted so every object colour stands out on every background.
const std::vector<SyntheticColor> kBaseColors = {
    {"red", {220, 40, 40}},
    {"green", {40, 180, 60}},
    {"blue", {40, 80, 230}},
    {"yellow", {240, 210, 40}},
};
const std::vector<SyntheticColor> kNewColors = {
    {"purple", {150, 60, 200}}, {"orange", {250, 140, 20}}, {"cyan", {40, 210, 220}},
    {"white", {245, 245, 245}}, {"pink", {250, 130, 190}},
};
const std::vector<SyntheticColor> kBaseBackgrounds = {{"black", {0, 0, 0}},
                                                      {"gray", {110, 110, 110}}};
const std::vector<SyntheticColor> kNewBackgrounds = {{"navy", {20, 24, 82}},
                                                     {"brown", {90, 60, 40}}};

const std::vector<std::string> kBaseShapes = {"circle", "square", "triangle"};
const std::vector<std::string> kNewShapes = {"diamond", "cross", "star"};
const std::vector<std::string> kBaseMotions = {"left", "right", "up", "down"};
const std::vector<std::string> kNewMotions = {"still", "up-left", "up-right", "down-left",
                                              "down-right"};
const std::vector<std::string> kRelations = {"left of", "right of", "above", "below"};

template <typename T>
std::vector<T> Concat(std::vector<T> a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<std::string> Names(const std::vector<SyntheticColor>& colors) {
  std::vector<std::string> names;
  for (const auto& c : colors) names.push_back(c.name);
  return names;
}

}  // namespace

const SyntheticVocabulary& SyntheticBaseVocabulary() {
  static const SyntheticVocabulary v = {"base",           kBaseShapes,  kBaseColors,
                                        kBaseBackgrounds, kBaseMotions, {"medium"},
                                        {"slow"},         kRelations,   1};
  return v;
}

const SyntheticVocabulary& SyntheticContinualVocabulary() {
  static const SyntheticVocabulary v = {"continual",
                                        Concat(kBaseShapes, kNewShapes),
                                        Concat(kBaseColors, kNewColors),
                                        Concat(kBaseBackgrounds, kNewBackgrounds),
                                        Concat(kBaseMotions, kNewMotions),
                                        {"small", "medium", "large"},
                                        {"slow", "fast"},
                                        kRelations,
                                        3};
  return v;
}

const SyntheticVocabulary& SyntheticVocabularyOf(std::string_view domain) {
  if (domain == "base") return SyntheticBaseVocabulary();
  if (domain == "continual") return SyntheticContinualVocabulary();
  throw InputError(
      fmt::format("unknown synthetic domain '{}': expected \"base\" or \"continual\"", domain));
}

std::vector<std::string> SyntheticNewShapes() { return kNewShapes; }
std::vector<std::string> SyntheticNewColors() { return Names(kNewColors); }
std::vector<std::string> SyntheticNewBackgrounds() { return Names(kNewBackgrounds); }
std::vector<std::string> SyntheticNewMotions() { return kNewMotions; }

std::optional<std::array<uint8_t, 3>> SyntheticColorRgb(std::string_view name) {
  for (const auto* list : {&kBaseColors, &kNewColors, &kBaseBackgrounds, &kNewBackgrounds}) {
    for (const SyntheticColor& c : *list) {
      if (c.name == name) return c.rgb;
    }
  }
  return std::nullopt;
}

std::optional<std::array<double, 2>> SyntheticMotionDirection(std::string_view motion) {
  const double d = 1.0 / std::sqrt(2.0);
  if (motion == "left") return std::array<double, 2>{-1, 0};
  if (motion == "right") return std::array<double, 2>{1, 0};
  if (motion == "up") return std::array<double, 2>{0, -1};
  if (motion == "down") return std::array<double, 2>{0, 1};
  if (motion == "still") return std::array<double, 2>{0, 0};
  if (motion == "up-left") return std::array<double, 2>{-d, -d};
  if (motion == "up-right") return std::array<double, 2>{d, -d};
  if (motion == "down-left") return std::array<double, 2>{-d, d};
  if (motion == "down-right") return std::array<double, 2>{d, d};
  return std::nullopt;
}

std::optional<double> SyntheticSizeFraction(std::string_view size) {
  if (size == "small") return 0.11;
  if (size == "medium") return 0.155;
  if (size == "large") return 0.21;
  return std::nullopt;
}

std::optional<double> SyntheticSpeedFraction(std::string_view speed) {
  if (speed == "none") return 0.0;
  if (speed == "slow") return 0.2;
  if (speed == "fast") return 0.4;
  return std::nullopt;
}

std::string SyntheticRelation(double subject_x, double subject_y, double object_x,
                              double object_y) {
  double dx = subject_x - object_x, dy = subject_y - object_y;
  if (std::abs(dx) >= std::abs(dy)) return dx < 0 ? "left of" : "right of";
  return dy < 0 ? "above" : "below";
}

}  // namespace modelgrow::synthetic
