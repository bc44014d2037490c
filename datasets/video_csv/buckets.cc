#include "buckets.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>

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

// Open-Sora v1.2.0's ASPECT_RATIOS (opensora/datasets/aspect.py) for its common resolutions.
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
    for (const std::string& key : frames.Keys()) {
      std::optional<int64_t> t = Integer(key);
      if (!t || *t < 1) {
        frames.Fail(key, "a frame count (an integer >= 1, as a string key: \"51\" = 1.0)");
        continue;
      }
      double p = 0;
      if (frames.TypeOf(key) == "array") {
        std::vector<double> values = frames.DoubleList(key, {});
        if (values.empty()) {
          frames.Fail(key, "expected [keep probability, batch size]");
          continue;
        }
        p = values[0];
      } else {
        p = frames.Double(key, 1.0);
      }
      if (!(p > 0 && p <= 1)) frames.Fail(key, "the keep probability must be in (0, 1]");
      r.frames.emplace_back(*t, p);
    }
    std::sort(r.frames.begin(), r.frames.end(), [](auto& a, auto& b) { return a.first > b.first; });
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
    std::optional<std::pair<int64_t, double>> chosen;
    for (const auto& [t, p] : res.frames) {
      // An image goes to the 1-frame bucket only; a clip to the longest bucket it can fill.
      bool fits = frames == 1 ? t == 1 : t != 1 && frames >= (t - 1) * frame_interval + 1;
      if (fits) {
        chosen = std::make_pair(t, p);
        break;
      }
    }
    if (!chosen) continue;
    if (chosen->second < 1) {
      DeterministicRng rng(DeriveSeed(seed, {0x6275636b6574ull, static_cast<uint64_t>(index), r,
                                             static_cast<uint64_t>(chosen->first)}));
      if (rng.Uniform() >= chosen->second) continue;
    }
    const double aspect = static_cast<double>(height) / static_cast<double>(width);
    const Size* best = &res.sizes[0];
    for (const Size& s : res.sizes) {
      if (std::abs(std::stod(s.ratio) - aspect) < std::abs(std::stod(best->ratio) - aspect))
        best = &s;
    }
    return BucketChoice{res.name, chosen->first, best->ratio, best->height, best->width};
  }
  return std::nullopt;
}

}  // namespace modelgrow::video_csv
