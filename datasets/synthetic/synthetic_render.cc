#include "synthetic_render.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "modelgrow/sdk/errors.h"
#include "synthetic_vocabulary.h"

namespace modelgrow::synthetic {

namespace {

// Even-odd rule for a closed polygon.
bool InsidePolygon(const std::vector<std::array<double, 2>>& poly, double u, double v) {
  bool inside = false;
  for (size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++) {
    const auto &a = poly[i], &b = poly[j];
    if ((a[1] > v) != (b[1] > v) && u < (b[0] - a[0]) * (v - a[1]) / (b[1] - a[1]) + a[0])
      inside = !inside;
  }
  return inside;
}

const std::vector<std::array<double, 2>>& StarPolygon() {
  static const std::vector<std::array<double, 2>> star = [] {
    std::vector<std::array<double, 2>> p;
    for (int k = 0; k < 10; ++k) {
      double angle = -M_PI / 2 + k * M_PI / 5;  // first point straight up
      double r = k % 2 == 0 ? 1.0 : 0.45;
      p.push_back({r * std::cos(angle), r * std::sin(angle)});
    }
    return p;
  }();
  return star;
}

std::array<float, 3> Normalised(const std::string& color) {
  auto rgb = SyntheticColorRgb(color);
  if (!rgb) throw RunError("synthetic world: no RGB for colour '" + color + "'");
  return {(*rgb)[0] / 127.5f - 1.0f, (*rgb)[1] / 127.5f - 1.0f, (*rgb)[2] / 127.5f - 1.0f};
}

}  // namespace

bool InsideShape(const std::string& shape, double u, double v) {
  double au = std::abs(u), av = std::abs(v);
  if (shape == "circle") return u * u + v * v <= 1.0;
  if (shape == "square") return au <= 0.85 && av <= 0.85;
  if (shape == "triangle") return v <= 0.8 && v >= -1.0 && au <= 0.95 * (v + 1.0) / 1.8;
  if (shape == "diamond") return au + av <= 1.0;
  if (shape == "cross") return (au <= 0.33 && av <= 1.0) || (av <= 0.33 && au <= 1.0);
  if (shape == "star") return InsidePolygon(StarPolygon(), u, v);
  throw RunError("synthetic world: no drawing for shape '" + shape + "'");
}

at::Tensor RenderScene(const Scene& scene, int64_t frames, int64_t height, int64_t width) {
  at::Tensor video = torch::empty({3, frames, height, width}, torch::kFloat);
  float* data = video.data_ptr<float>();
  const int64_t plane = frames * height * width;
  std::array<float, 3> background = Normalised(scene.background);
  for (int c = 0; c < 3; ++c) std::fill(data + c * plane, data + (c + 1) * plane, background[c]);

  for (const SceneObject& o : scene.objects) {
    std::array<float, 3> color = Normalised(o.color);
    double reach = o.radius * ShapeExtent(o.shape);
    for (int64_t t = 0; t < frames; ++t) {
      double cx = o.trajectory[t][0], cy = o.trajectory[t][1];
      int64_t i0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cy - reach)));
      int64_t i1 = std::min<int64_t>(height - 1, static_cast<int64_t>(std::ceil(cy + reach)));
      int64_t j0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(cx - reach)));
      int64_t j1 = std::min<int64_t>(width - 1, static_cast<int64_t>(std::ceil(cx + reach)));
      for (int64_t i = i0; i <= i1; ++i) {
        for (int64_t j = j0; j <= j1; ++j) {
          if (!InsideShape(o.shape, (j + 0.5 - cx) / o.radius, (i + 0.5 - cy) / o.radius)) continue;
          int64_t offset = (t * height + i) * width + j;
          for (int c = 0; c < 3; ++c) data[c * plane + offset] = color[c];
        }
      }
    }
  }
  return video;
}

}  // namespace modelgrow::synthetic
