// The `synthetic` data pipeline: procedural videos of coloured shapes with exact labels, in a
// base domain and a continual domain, deterministic from (seed, split, index). It declares its
// label schema, so evaluation reads its categories back from generated videos without knowing
// this world.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/plugin.h"
#include "synthetic_captions.h"
#include "synthetic_labels.h"
#include "synthetic_render.h"
#include "synthetic_scene.h"
#include "synthetic_vocabulary.h"

namespace modelgrow::synthetic {

namespace {

std::vector<std::string> ColorNames(const std::vector<SyntheticColor>& colors) {
  std::vector<std::string> names;
  for (const auto& c : colors) names.push_back(c.name);
  return names;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Bump when a change to scenes, rendering or captions changes what a (seed, split, index) gives:
// every cache built from the old samples is then keyed apart.
constexpr const char* kGeneratorVersion = "synthetic-world/1";

// The continual domain's knobs: which of the new values are on, how many objects.
const char* const kContinualKeys[] = {"new_colors",      "new_shapes",  "new_motions",
                                      "new_backgrounds", "min_objects", "max_objects",
                                      "include_base"};

class SyntheticPipeline : public DataPipeline {
 public:
  // The conformance suite opens each; `test_` keys steer it (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # the base domain: one object, the "old" data of continual pre-training
size = 8

[[example]]
domain = "continual"
size = 8
frames = 4
height = 24
width = 40

[[example]]
domain = "continual"
split = "heldout"
size = 6
new_colors = ["purple"]
new_motions = []
min_objects = 2
fps = 12.5

[[example]]
domain = "continual"
paths = "centred"
size = 6

[[example]]  # the base domain at another speed and size; its captions still name neither
speeds = ["fast"]
sizes = ["large"]
paths = "centred"
size = 6

[[example]]
max_objects = 2
test_options_error = "only applies to domain = \"continual\""
)toml";

  // Reads the options; nothing to load.
  explicit SyntheticPipeline(const PluginContext& context) {
    const Options& o = context.options;
    seed_ = static_cast<uint64_t>(o.Int("seed", 0, {.min = 0}));
    world_.domain = o.Choice("domain", "base", {"base", "continual"});
    split_ = o.Choice("split", "train", {"train", "heldout"});
    size_ = o.Int("size", split_ == "train" ? 1024 : 128, {.min = 1});
    world_.frames = o.Int("frames", 8, {.min = 2, .max = 1024});
    world_.height = o.Int("height", 32, {.min = 16, .max = 4096});
    world_.width = o.Int("width", 32, {.min = 16, .max = 4096});
    fps_ = o.Double("fps", 8.0, {.min = 0, .max = 1000, .min_exclusive = true});
    world_.paths = o.Choice("paths", "random", {"random", "centred"});

    const SyntheticVocabulary& base = SyntheticBaseVocabulary();
    world_.shapes = base.shapes;
    world_.colors = ColorNames(base.colors);
    world_.backgrounds = ColorNames(base.backgrounds);
    world_.motions = base.motions;
    world_.min_objects = world_.max_objects = base.max_objects;

    // Either domain may choose its sizes and speeds from all there are. The base domain's default
    // slow speed moves an object 3.2 px over 8 frames at 16x16, which small models trained for
    // minutes did not learn to draw; at the fast speed they did (docs/formats.md).
    const SyntheticVocabulary& full = SyntheticContinualVocabulary();
    const SyntheticVocabulary& own = SyntheticVocabularyOf(world_.domain);
    world_.sizes = Subset(o, "sizes", "size", full.sizes, own.sizes);
    world_.speeds = Subset(o, "speeds", "speed", full.speeds, own.speeds);

    if (world_.domain == "base") {
      for (const char* key : kContinualKeys) {
        if (o.Has(key)) {
          o.Accept(key);
          o.Fail(key, "only applies to domain = \"continual\" (the base domain is fixed)");
        }
      }
    } else {
      // Without the base values, training on this domain teaches nothing of the base domain, so
      // what a model keeps of it is retention, not rehearsal.
      if (!o.Bool("include_base", true)) {
        world_.shapes.clear();
        world_.colors.clear();
        world_.backgrounds.clear();
        world_.motions.clear();
      }
      AddNew(o, "new_colors", "colour", SyntheticNewColors(), world_.colors);
      AddNew(o, "new_shapes", "shape", SyntheticNewShapes(), world_.shapes);
      AddNew(o, "new_motions", "motion", SyntheticNewMotions(), world_.motions);
      AddNew(o, "new_backgrounds", "background", SyntheticNewBackgrounds(), world_.backgrounds);
      world_.min_objects =
          static_cast<int>(o.Int("min_objects", 1, {.min = 1, .max = full.max_objects}));
      world_.max_objects = static_cast<int>(
          o.Int("max_objects", full.max_objects, {.min = 1, .max = full.max_objects}));
      if (world_.min_objects > world_.max_objects)
        o.Fail("min_objects", fmt::format("must be <= max_objects ({}), got {}", world_.max_objects,
                                          world_.min_objects));
      // A scene's objects have distinct colours.
      if (static_cast<int>(world_.colors.size()) < world_.max_objects)
        o.Fail("new_colors",
               fmt::format("{} colour(s) cannot colour scenes of up to {} objects distinctly",
                           world_.colors.size(), world_.max_objects));
      for (auto [key, values] :
           {std::pair{"new_shapes", &world_.shapes}, std::pair{"new_motions", &world_.motions},
            std::pair{"new_backgrounds", &world_.backgrounds}}) {
        if (values->empty()) o.Fail(key, "must name at least one value when include_base = false");
      }
    }
  }

  // Nothing to open: every sample is drawn from (seed, split, index) when asked for.
  void Open() override {}

  int64_t size() const override { return size_; }

  Sample Get(int64_t index) override {
    if (index < 0 || index >= size_)
      throw InputError(fmt::format("synthetic: index {} out of range [0, {})", index, size_));
    // Train and held-out samples come from different streams, so the splits never share one.
    uint64_t seed = DeriveSeed(seed_, {world_.domain == "base" ? 1u : 2u,
                                       split_ == "train" ? 1u : 2u, static_cast<uint64_t>(index)});
    Scene scene = SampleScene(world_, seed);
    Sample s;
    s.video = RenderScene(scene, world_.frames, world_.height, world_.width);
    s.captions["short"] = ShortCaption(scene);
    s.captions["detailed"] = DetailedCaption(scene, world_.width, world_.height);
    s.fps = fps_;
    s.height = world_.height;
    s.width = world_.width;
    s.index = index;
    s.labels = SceneLabels(scene);
    s.targets = SceneTargets(scene);
    return s;
  }

  std::optional<LabelSchema> label_schema() const override { return SyntheticLabelSchema(); }

  // The resolved settings (defaults included) and the generator's version: what the samples are
  // a function of.
  std::string CacheKey() const override {
    nlohmann::json settings = {{"seed", seed_},
                               {"domain", world_.domain},
                               {"split", split_},
                               {"size", size_},
                               {"frames", world_.frames},
                               {"height", world_.height},
                               {"width", world_.width},
                               {"fps", fps_},
                               {"shapes", world_.shapes},
                               {"colors", world_.colors},
                               {"backgrounds", world_.backgrounds},
                               {"motions", world_.motions},
                               {"sizes", world_.sizes},
                               {"speeds", world_.speeds},
                               {"min_objects", world_.min_objects},
                               {"max_objects", world_.max_objects}};
    // Only when set, so the keys of caches made before the option existed still match.
    if (world_.paths != "random") settings["paths"] = world_.paths;
    return ContentHash("data.synthetic")
        .Add("generator", kGeneratorVersion)
        .Add("settings", settings.dump())
        .Hex();
  }

  nlohmann::json Summary() const override {
    return {{"domain", world_.domain}, {"split", split_}, {"size", size_}};
  }

 private:
  // Adds the chosen new values (all by default) of one attribute to the base ones.
  static void AddNew(const Options& o, const char* key, const char* noun,
                     const std::vector<std::string>& available, std::vector<std::string>& into) {
    for (const std::string& v : o.StringList(key, available)) {
      if (!Contains(available, v)) {
        o.Fail(key, fmt::format("'{}' is not a new {} of the continual domain (those are: {}; the "
                                "base domain's are always included)",
                                v, noun, fmt::join(available, ", ")));
      } else if (!Contains(into, v)) {
        into.push_back(v);
      }
    }
  }

  static std::vector<std::string> Subset(const Options& o, const char* key, const char* noun,
                                         const std::vector<std::string>& available,
                                         const std::vector<std::string>& fallback) {
    std::vector<std::string> chosen;
    for (const std::string& v : o.StringList(key, fallback)) {
      if (!Contains(available, v))
        o.Fail(key, fmt::format("unknown {} '{}' (expected some of: {})", noun, v,
                                fmt::join(available, ", ")));
      else if (!Contains(chosen, v))
        chosen.push_back(v);
    }
    if (chosen.empty()) {
      o.Fail(key, fmt::format("must name at least one {}", noun));
      chosen = fallback;  // keeps the object usable until the problems are thrown
    }
    return chosen;
  }

  uint64_t seed_ = 0;
  std::string split_;
  int64_t size_ = 0;
  double fps_ = 8;
  WorldSettings world_;
};

}  // namespace

}  // namespace modelgrow::synthetic

MODELGROW_DATA_PIPELINE(modelgrow::synthetic::SyntheticPipeline, "synthetic", "1.0.0",
                        "Procedural videos of coloured shapes with short and detailed captions and "
                        "exact labels; base and continual domains")
