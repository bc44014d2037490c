// The captions of a scene. The short one names only the main object's colour, shape and motion
// (the kind of prompt the base model was trained on); the detailed one states every attribute of
// every object, the background and the relations, in 35-70 words: far more than a 16-token text
// window can see, which is the point of the continual domain.
#pragma once

#include <cstdint>
#include <string>

#include "synthetic_scene.h"

namespace modelgrow::synthetic {

// "a red circle moves left", "an orange star moves up-left", "a white cross stays still".
std::string ShortCaption(const Scene& scene);

// Where a point lies in a 3x3 grid of the frame: "in the top left", "at the top", ...,
// "in the center", ..., "in the bottom right".
std::string PositionPhrase(double x, double y, int64_t width, int64_t height);

std::string DetailedCaption(const Scene& scene, int64_t width, int64_t height);

}  // namespace modelgrow::synthetic
