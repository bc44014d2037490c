// Draws a scene into a video tensor: crisp filled shapes on a plain background.
#pragma once

#include <ATen/core/Tensor.h>

#include "synthetic_scene.h"

namespace modelgrow::synthetic {

// Whether the point (u, v), in units of the shape's radius from its centre (v downwards), is
// inside the shape.
bool InsideShape(const std::string& shape, double u, double v);

// [3, frames, height, width] float32 in [-1, 1]. A pixel (row i, column j) takes the colour of
// the shape containing its centre (j + 0.5, i + 0.5); no anti-aliasing, so every pixel is exactly
// one colour of the vocabulary.
at::Tensor RenderScene(const Scene& scene, int64_t frames, int64_t height, int64_t width);

}  // namespace modelgrow::synthetic
