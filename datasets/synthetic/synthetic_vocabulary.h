// The synthetic world's vocabularies: every shape, colour, motion, size, speed and relation the
// `synthetic` data pipeline can draw, per domain. They are the plugin's own: evaluation sees the
// classes it reads back from videos only through the pipeline's label schema
// (synthetic_labels.h), and docs/formats.md lists the values.
//
// The base domain is the "old" data of continual pre-training: one object, four colours, three
// shapes, four motions, one size and speed, two backgrounds. The continual domain keeps all of
// that and adds new values of every attribute, sizes and speeds that only the detailed caption
// states, and scenes of two or three objects with spatial relations. The pipeline's options can
// switch individual new values off; these lists are the fullest version of each domain.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::synthetic {

struct SyntheticColor {
  std::string name;
  std::array<uint8_t, 3> rgb;
};

struct SyntheticVocabulary {
  std::string domain;                       // "base" or "continual"
  std::vector<std::string> shapes;          // "circle", "square", ...
  std::vector<SyntheticColor> colors;       // object colours
  std::vector<SyntheticColor> backgrounds;  // background colours (never an object colour)
  std::vector<std::string> motions;         // "left", ..., "still", "up-left", ...
  std::vector<std::string> sizes;           // "small", "medium", "large"
  std::vector<std::string> speeds;          // "slow", "fast"; a still object's speed is "none"
  std::vector<std::string> relations;       // "left of", "right of", "above", "below"
  int max_objects = 1;
};

const SyntheticVocabulary& SyntheticBaseVocabulary();
const SyntheticVocabulary& SyntheticContinualVocabulary();
// "base" or "continual"; InputError for any other name.
const SyntheticVocabulary& SyntheticVocabularyOf(std::string_view domain);

// The values the continual domain adds to the base (continual minus base), per attribute.
std::vector<std::string> SyntheticNewShapes();
std::vector<std::string> SyntheticNewColors();
std::vector<std::string> SyntheticNewBackgrounds();
std::vector<std::string> SyntheticNewMotions();

// RGB of an object or background colour name; nullopt for an unknown name.
std::optional<std::array<uint8_t, 3>> SyntheticColorRgb(std::string_view name);
// Unit direction of a motion in image coordinates (x to the right, y downwards); {0, 0} for
// "still". nullopt for an unknown motion.
std::optional<std::array<double, 2>> SyntheticMotionDirection(std::string_view motion);

// The object's radius as a fraction of min(height, width), per size name; nullopt if unknown.
std::optional<double> SyntheticSizeFraction(std::string_view size);
// Distance the object's centre travels over the whole clip as a fraction of min(height, width),
// per speed name ("none": 0); nullopt if unknown.
std::optional<double> SyntheticSpeedFraction(std::string_view speed);

// The relation of `subject` to `object` from their centres: the axis with the larger separation
// decides ("left of" when the subject's x is smaller, "above" when its y is smaller).
std::string SyntheticRelation(double subject_x, double subject_y, double object_x, double object_y);

}  // namespace modelgrow::synthetic
