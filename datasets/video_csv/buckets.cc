#include "buckets.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/deterministic_random.h"

namespace modelgrow::video_csv {

namespace {

struct BuiltinSize {
  const char* ratio;
  int64_t height, width;
};
struct BuiltinResolution {
  const char* name;
  int64_t area;
  std::vector<BuiltinSize> sizes;
};

// Open-Sora v1.2.0's ASPECT_RATIOS (opensora/datasets/aspect.py) for the resolutions its v1.2
// training configs name (144p ... 1080p, and the square-area 256, 512, 1024).
const std::vector<BuiltinResolution>& Builtins() {
  static const std::vector<BuiltinResolution> table = {
      {"144p",
       36864,
       {{"0.38", 117, 312},
        {"0.43", 125, 291},
        {"0.48", 133, 277},
        {"0.50", 135, 270},
        {"0.53", 139, 262},
        {"0.54", 141, 260},
        {"0.56", 144, 256},
        {"0.62", 151, 241},
        {"0.67", 156, 234},
        {"0.75", 166, 221},
        {"1.00", 192, 192},
        {"1.33", 221, 165},
        {"1.50", 235, 156},
        {"1.78", 256, 144},
        {"1.89", 263, 139},
        {"2.00", 271, 135},
        {"2.08", 277, 132}}},
      {"240p",
       102240,
       {{"0.38", 196, 522},
        {"0.43", 210, 490},
        {"0.48", 222, 462},
        {"0.50", 226, 452},
        {"0.53", 232, 438},
        {"0.54", 236, 436},
        {"0.56", 240, 426},
        {"0.62", 252, 404},
        {"0.67", 262, 393},
        {"0.75", 276, 368},
        {"1.00", 320, 320},
        {"1.33", 370, 278},
        {"1.50", 392, 262},
        {"1.78", 426, 240},
        {"1.89", 440, 232},
        {"2.00", 452, 226},
        {"2.08", 462, 222}}},
      {"360p",
       230400,
       {{"0.38", 294, 784},
        {"0.43", 314, 732},
        {"0.48", 332, 692},
        {"0.50", 340, 680},
        {"0.53", 350, 662},
        {"0.54", 352, 652},
        {"0.56", 360, 640},
        {"0.62", 380, 608},
        {"0.67", 392, 588},
        {"0.75", 416, 554},
        {"1.00", 480, 480},
        {"1.33", 554, 416},
        {"1.50", 588, 392},
        {"1.78", 640, 360},
        {"1.89", 660, 350},
        {"2.00", 678, 340},
        {"2.08", 692, 332}}},
      {"480p",
       409920,
       {{"0.38", 392, 1046},
        {"0.43", 420, 980},
        {"0.48", 444, 925},
        {"0.50", 452, 904},
        {"0.53", 466, 880},
        {"0.54", 470, 870},
        {"0.56", 480, 854},
        {"0.62", 506, 810},
        {"0.67", 522, 784},
        {"0.75", 554, 738},
        {"1.00", 640, 640},
        {"1.33", 740, 555},
        {"1.50", 784, 522},
        {"1.78", 854, 480},
        {"1.89", 880, 466},
        {"2.00", 906, 454},
        {"2.08", 924, 444}}},
      {"720p",
       921600,
       {{"0.38", 588, 1568},
        {"0.43", 628, 1466},
        {"0.48", 666, 1388},
        {"0.50", 678, 1356},
        {"0.53", 698, 1318},
        {"0.54", 706, 1306},
        {"0.56", 720, 1280},
        {"0.62", 758, 1212},
        {"0.67", 784, 1176},
        {"0.75", 832, 1110},
        {"1.00", 960, 960},
        {"1.33", 1108, 832},
        {"1.50", 1176, 784},
        {"1.78", 1280, 720},
        {"1.89", 1320, 698},
        {"2.00", 1358, 680},
        {"2.08", 1386, 666}}},
      {"1080p",
       2073600,
       {{"0.38", 882, 2352},
        {"0.43", 942, 2198},
        {"0.48", 998, 2080},
        {"0.50", 1018, 2036},
        {"0.53", 1048, 1980},
        {"0.54", 1058, 1958},
        {"0.56", 1080, 1920},
        {"0.62", 1138, 1820},
        {"0.67", 1176, 1764},
        {"0.75", 1248, 1664},
        {"1.00", 1440, 1440},
        {"1.33", 1662, 1246},
        {"1.50", 1764, 1176},
        {"1.78", 1920, 1080},
        {"1.89", 1980, 1048},
        {"2.00", 2036, 1018},
        {"2.08", 2078, 998}}},
      {"256",
       65536,
       {{"0.25", 128, 512}, {"0.26", 128, 496}, {"0.27", 128, 480}, {"0.28", 128, 464},
        {"0.32", 144, 448}, {"0.33", 144, 432}, {"0.35", 144, 416}, {"0.4", 160, 400},
        {"0.42", 160, 384}, {"0.48", 176, 368}, {"0.5", 176, 352},  {"0.52", 176, 336},
        {"0.57", 192, 336}, {"0.6", 192, 320},  {"0.68", 208, 304}, {"0.72", 208, 288},
        {"0.78", 224, 288}, {"0.82", 224, 272}, {"0.88", 240, 272}, {"0.94", 240, 256},
        {"1.0", 256, 256},  {"1.07", 256, 240}, {"1.13", 272, 240}, {"1.21", 272, 224},
        {"1.29", 288, 224}, {"1.38", 288, 208}, {"1.46", 304, 208}, {"1.67", 320, 192},
        {"1.75", 336, 192}, {"2.0", 352, 176},  {"2.09", 368, 176}, {"2.4", 384, 160},
        {"2.5", 400, 160},  {"2.89", 416, 144}, {"3.0", 432, 144},  {"3.11", 448, 144},
        {"3.62", 464, 128}, {"3.75", 480, 128}, {"3.88", 496, 128}, {"4.0", 512, 128}}},
      {"512",
       262144,
       {{"0.25", 256, 1024}, {"0.26", 256, 992}, {"0.27", 256, 960}, {"0.28", 256, 928},
        {"0.32", 288, 896},  {"0.33", 288, 864}, {"0.35", 288, 832}, {"0.4", 320, 800},
        {"0.42", 320, 768},  {"0.48", 352, 736}, {"0.5", 352, 704},  {"0.52", 352, 672},
        {"0.57", 384, 672},  {"0.6", 384, 640},  {"0.68", 416, 608}, {"0.72", 416, 576},
        {"0.78", 448, 576},  {"0.82", 448, 544}, {"0.88", 480, 544}, {"0.94", 480, 512},
        {"1.0", 512, 512},   {"1.07", 512, 480}, {"1.13", 544, 480}, {"1.21", 544, 448},
        {"1.29", 576, 448},  {"1.38", 576, 416}, {"1.46", 608, 416}, {"1.67", 640, 384},
        {"1.75", 672, 384},  {"2.0", 704, 352},  {"2.09", 736, 352}, {"2.4", 768, 320},
        {"2.5", 800, 320},   {"2.89", 832, 288}, {"3.0", 864, 288},  {"3.11", 896, 288},
        {"3.62", 928, 256},  {"3.75", 960, 256}, {"3.88", 992, 256}, {"4.0", 1024, 256}}},
      {"1024",
       1048576,
       {{"0.25", 512, 2048}, {"0.26", 512, 1984}, {"0.27", 512, 1920}, {"0.28", 512, 1856},
        {"0.32", 576, 1792}, {"0.33", 576, 1728}, {"0.35", 576, 1664}, {"0.4", 640, 1600},
        {"0.42", 640, 1536}, {"0.48", 704, 1472}, {"0.5", 704, 1408},  {"0.52", 704, 1344},
        {"0.57", 768, 1344}, {"0.6", 768, 1280},  {"0.68", 832, 1216}, {"0.72", 832, 1152},
        {"0.78", 896, 1152}, {"0.82", 896, 1088}, {"0.88", 960, 1088}, {"0.94", 960, 1024},
        {"1.0", 1024, 1024}, {"1.07", 1024, 960}, {"1.13", 1088, 960}, {"1.21", 1088, 896},
        {"1.29", 1152, 896}, {"1.38", 1152, 832}, {"1.46", 1216, 832}, {"1.67", 1280, 768},
        {"1.75", 1344, 768}, {"2.0", 1408, 704},  {"2.09", 1472, 704}, {"2.4", 1536, 640},
        {"2.5", 1600, 640},  {"2.89", 1664, 576}, {"3.0", 1728, 576},  {"3.11", 1792, 576},
        {"3.62", 1856, 512}, {"3.75", 1920, 512}, {"3.88", 1984, 512}, {"4.0", 2048, 512}}},
  };
  return table;
}

std::optional<int64_t> Integer(const std::string& text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string BucketChoice::Name() const {
  return fmt::format("{}/{}/{}", resolution, frames, ratio);
}

BucketTable BucketTable::FromOptions(const Options& options) {
  BucketTable table;
  if (!options.Has("buckets")) {
    if (options.Has("resolutions")) options.Fail("resolutions", "is used only with `buckets`");
    return table;
  }
  // Resolutions the manifest defines.
  std::map<std::string, Resolution> defined;
  Options custom = options.Table("resolutions");
  for (const std::string& name : custom.Keys()) {
    Options t = custom.Table(name);
    Resolution r;
    r.name = name;
    for (const std::string& ratio : t.Keys()) {
      if (ratio == "area") continue;
      std::vector<int64_t> hw = t.IntList(ratio, {}, {.min = 1, .max = 16384});
      if (hw.size() != 2) {
        t.Fail(ratio, "expected [height, width]");
        continue;
      }
      r.sizes.push_back({ratio, hw[0], hw[1]});
    }
    if (r.sizes.empty()) t.Fail("", "needs at least one \"H/W ratio\" = [height, width] entry");
    int64_t smallest = 0;
    for (const Size& s : r.sizes) {
      if (smallest == 0 || s.height * s.width < smallest) smallest = s.height * s.width;
    }
    r.area = t.Int("area", smallest, {.min = 1});
    defined[name] = r;
  }
  Options buckets = options.Table("buckets");
  for (const std::string& name : buckets.Keys()) {
    Resolution r;
    if (auto it = defined.find(name); it != defined.end()) {
      r = it->second;
    } else {
      auto builtin = std::find_if(Builtins().begin(), Builtins().end(),
                                  [&](const BuiltinResolution& b) { return name == b.name; });
      if (builtin == Builtins().end()) {
        std::string known;
        for (const auto& b : Builtins()) known += std::string(known.empty() ? "" : ", ") + b.name;
        buckets.Fail(name, fmt::format("unknown resolution (Open-Sora's: {}; or define it in "
                                       "`resolutions`)",
                                       known));
        continue;
      }
      r.name = name;
      r.area = builtin->area;
      for (const BuiltinSize& s : builtin->sizes) r.sizes.push_back({s.ratio, s.height, s.width});
    }
    Options frames = buckets.Table(name);
    const nlohmann::json values = nlohmann::json::parse(frames.ToJson());
    for (const std::string& key : frames.Keys()) {
      std::optional<int64_t> t = Integer(key);
      if (!t || *t < 1) {
        frames.Fail(key, "a frame count (an integer >= 1, as a string key: \"51\" = 1.0)");
        continue;
      }
      // Open-Sora's value: p or [p, batch size], where p is the keep probability or [keep
      // probability, time probability].
      frames.Accept(key);
      nlohmann::json v = values[key];
      if (v.is_array() && !v.empty()) v = v[0];
      double keep = 1, time = 1;
      if (v.is_number()) {
        keep = v.get<double>();
      } else if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number()) {
        keep = v[0].get<double>();
        time = v[1].get<double>();
      } else {
        frames.Fail(key,
                    "expected a keep probability, [keep probability, batch size] or [[keep "
                    "probability, time probability], batch size] (Open-Sora's bucket_config)");
        continue;
      }
      if (!(keep >= 0 && keep <= 1 && time >= 0 && time <= 1))
        frames.Fail(key, "the keep probability and the time probability must be in [0, 1]");
      r.frames.push_back({*t, keep, time});
    }
    std::sort(r.frames.begin(), r.frames.end(),
              [](const FrameBucket& a, const FrameBucket& b) { return a.frames > b.frames; });
    if (r.frames.empty()) buckets.Fail(name, "needs at least one frame count");
    table.resolutions_.push_back(std::move(r));
  }
  std::stable_sort(table.resolutions_.begin(), table.resolutions_.end(),
                   [](const Resolution& a, const Resolution& b) { return a.area > b.area; });
  return table;
}

std::optional<BucketChoice> BucketTable::Assign(int64_t frames, int64_t height, int64_t width,
                                                int64_t frame_interval, uint64_t seed,
                                                int64_t index) const {
  for (size_t r = 0; r < resolutions_.size(); ++r) {
    const Resolution& res = resolutions_[r];
    if (static_cast<double>(height * width) < 0.8 * static_cast<double>(res.area)) continue;
    // One draw per (row, resolution, frame count, purpose): the same row gets the same bucket
    // on every run.
    auto draw = [&](uint64_t purpose, int64_t t) {
      return DeterministicRng(DeriveSeed(seed, {0x6275636b6574ull, static_cast<uint64_t>(index), r,
                                                static_cast<uint64_t>(t), purpose}))
          .Uniform();
    };
    const FrameBucket* chosen = nullptr;
    for (const FrameBucket& b : res.frames) {
      // An image goes to the 1-frame bucket only; a clip to the longest bucket it can fill,
      // passing one over with probability 1 - its time probability.
      bool fits = frames == 1 ? b.frames == 1
                              : b.frames != 1 && frames >= (b.frames - 1) * frame_interval + 1;
      if (fits && frames != 1 && b.time < 1 && draw(1, b.frames) >= b.time) continue;
      if (fits) {
        chosen = &b;
        break;
      }
    }
    if (!chosen) continue;
    // Not kept at this resolution: the next smaller one is tried.
    if (chosen->keep < 1 && draw(0, chosen->frames) >= chosen->keep) continue;
    const double aspect = static_cast<double>(height) / static_cast<double>(width);
    const Size* best = &res.sizes[0];
    for (const Size& s : res.sizes) {
      if (std::abs(std::stod(s.ratio) - aspect) < std::abs(std::stod(best->ratio) - aspect))
        best = &s;
    }
    return BucketChoice{res.name, chosen->frames, best->ratio, best->height, best->width};
  }
  return std::nullopt;
}

}  // namespace modelgrow::video_csv
