#include "synthetic_captions.h"

#include <sstream>
#include <string_view>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::synthetic {

namespace {

// The motion label appears verbatim ("left", "up-left", "still") so a caption can be checked
// against its labels by substring.
std::string ShortMotion(const std::string& motion) {
  if (motion == "still") return "stays still";
  return "moves " + motion;
}

std::string DetailedMotion(const std::string& motion, const std::string& speed) {
  if (motion == "still") return "stays still in place";
  std::string adverb = speed == "fast" ? "fast" : "slowly";
  if (motion == "left" || motion == "right") return "moves " + adverb + " to the " + motion;
  if (motion == "up" || motion == "down") return "moves " + adverb + " " + motion + "ward";
  return "moves " + adverb + " diagonally " + motion;
}

std::string CountWord(size_t n) {
  static const char* words[] = {"no", "one", "two", "three", "four", "five"};
  return n < 6 ? words[n] : std::to_string(n);
}

std::string Name(const SceneObject& o) { return o.color + " " + o.shape; }

size_t Words(const std::string& text) {
  std::istringstream in(text);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

}  // namespace

std::string ShortCaption(const Scene& scene) {
  const SceneObject& o = scene.objects.at(0);
  bool vowel = std::string_view("aeiou").find(o.color.at(0)) != std::string_view::npos;
  return (vowel ? "an " : "a ") + Name(o) + " " + ShortMotion(o.motion);
}

std::string PositionPhrase(double x, double y, int64_t width, int64_t height) {
  int col = x < width / 3.0 ? 0 : (x < 2.0 * width / 3.0 ? 1 : 2);
  int row = y < height / 3.0 ? 0 : (y < 2.0 * height / 3.0 ? 1 : 2);
  static const char* phrases[3][3] = {
      {"in the top left", "at the top", "in the top right"},
      {"on the left", "in the center", "on the right"},
      {"in the bottom left", "at the bottom", "in the bottom right"}};
  return phrases[row][col];
}

std::string DetailedCaption(const Scene& scene, int64_t width, int64_t height) {
  size_t n = scene.objects.size();
  std::string text = "A video of " + CountWord(n) + (n == 1 ? " object" : " objects") +
                     " on a plain " + scene.background + " background.";
  for (const SceneObject& o : scene.objects) {
    const auto& start = o.trajectory.at(0);
    text += " A " + o.size + " " + Name(o) + " starts " +
            PositionPhrase(start[0], start[1], width, height) + " and " +
            DetailedMotion(o.motion, o.speed) + ".";
  }
  if (!scene.relations.empty()) {
    text += " The " + Name(scene.objects.at(scene.relations[0].subject)) + " is";
    for (size_t k = 0; k < scene.relations.size(); ++k) {
      const SceneRelation& r = scene.relations[k];
      text += (k == 0 ? " " : " and ") + r.relation + " the " + Name(scene.objects.at(r.object));
    }
    text += ".";
  }
  if (Words(text) < 40)
    text += " Nothing else appears in the scene, and the background stays the same in every frame.";
  return text;
}

}  // namespace modelgrow::synthetic
