// The synthetic world: determinism, labels that agree with the pixels, captions that state every
// label, targets that follow the labels, disjoint splits, the two domains and their options.
#include <bit>
#include <cmath>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "synthetic_vocabulary.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using nlohmann::json;
using synthetic::SyntheticBaseVocabulary;
using synthetic::SyntheticColor;
using synthetic::SyntheticColorRgb;
using synthetic::SyntheticContinualVocabulary;
using synthetic::SyntheticMotionDirection;
using synthetic::SyntheticNewColors;
using synthetic::SyntheticNewMotions;
using synthetic::SyntheticNewShapes;
using synthetic::SyntheticRelation;
using synthetic::SyntheticSizeFraction;
using synthetic::SyntheticSpeedFraction;
using synthetic::SyntheticVocabulary;
using synthetic::SyntheticVocabularyOf;

// The plugin under test, constructed from TOML option text as the host constructs it.
std::shared_ptr<DataPipeline> Construct(const std::string& toml) {
  static const PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFile(MODELGROW_TEST_PLUGIN_FILE);
    return r;
  }();
  PluginContext context;
  context.options = Options::ParseString(toml, "synthetic.toml");
  return registry->MakeDataPipeline("synthetic", context);
}

// Constructed and opened.
std::shared_ptr<DataPipeline> Opened(const std::string& toml) {
  std::shared_ptr<DataPipeline> pipeline = Construct(toml);
  pipeline->Open();
  return pipeline;
}

std::vector<float> Normalised(const std::string& color) {
  auto rgb = SyntheticColorRgb(color);
  EXPECT_TRUE(rgb.has_value()) << color;
  return {(*rgb)[0] / 127.5f - 1, (*rgb)[1] / 127.5f - 1, (*rgb)[2] / 127.5f - 1};
}

// [T, H, W] bool: where the video has exactly this colour.
at::Tensor ColorMask(const at::Tensor& video, const std::string& color) {
  std::vector<float> c = Normalised(color);
  return video[0].eq(c[0]).logical_and(video[1].eq(c[1])).logical_and(video[2].eq(c[2]));
}

size_t Words(const std::string& text) {
  std::istringstream in(text);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Synthetic, IsDeterministicFromSeedAndIndexAndThreadSafe) {
  auto a = Opened("domain = \"continual\"\nseed = 3\nsize = 20");
  auto b = Opened("domain = \"continual\"\nseed = 3\nsize = 20");
  auto other = Opened("domain = \"continual\"\nseed = 4\nsize = 20");
  EXPECT_EQ(a->size(), 20);
  EXPECT_EQ(a->CacheKey(), b->CacheKey());
  EXPECT_NE(a->CacheKey(), other->CacheKey());
  std::vector<Sample> serial;
  for (int i = 0; i < 20; ++i) serial.push_back(a->Get(i));
  // The same samples from another instance, from several threads at once, in another order.
  std::vector<Sample> threaded(20);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 19 - t; i >= 0; i -= 4) threaded[i] = b->Get(i);
    });
  for (auto& t : threads) t.join();
  int differs_from_other_seed = 0;
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(torch::equal(serial[i].video, threaded[i].video)) << i;
    EXPECT_EQ(serial[i].captions, threaded[i].captions) << i;
    EXPECT_EQ(serial[i].labels, threaded[i].labels) << i;
    EXPECT_EQ(serial[i].index, i);
    differs_from_other_seed += serial[i].labels != other->Get(i).labels;
  }
  EXPECT_EQ(differs_from_other_seed, 20);
}

TEST(Synthetic, DefaultSampleIsSmallPixelVideoInRange) {
  auto p = Opened("");
  Sample s = p->Get(0);
  EXPECT_EQ(s.video.sizes(), (std::vector<int64_t>{3, 8, 32, 32}));
  EXPECT_EQ(s.video.scalar_type(), torch::kFloat);
  EXPECT_GE(s.video.min().item<float>(), -1.0f);
  EXPECT_LE(s.video.max().item<float>(), 1.0f);
  EXPECT_EQ(s.height, 32);
  EXPECT_EQ(s.width, 32);
  EXPECT_DOUBLE_EQ(s.fps, 8.0);
  EXPECT_FALSE(p->latent());
  EXPECT_EQ(p->size(), 1024);
  auto shape = p->ShapeOf(5);
  EXPECT_FALSE(shape.has_value());

  auto wide = Opened("frames = 5\nheight = 24\nwidth = 40\nfps = 12.5");
  Sample w = wide->Get(1);
  EXPECT_EQ(w.video.sizes(), (std::vector<int64_t>{3, 5, 24, 40}));
  EXPECT_DOUBLE_EQ(w.fps, 12.5);
  EXPECT_EQ(w.labels["objects"][0]["trajectory"].size(), 5u);
}

// Every labelled object has its colour at its labelled centre in every frame, moves the labelled
// way, and the relations match the centres.
void CheckLabelsAgreeWithPixels(const std::string& options, int samples) {
  auto p = Opened(options);
  for (int i = 0; i < samples; ++i) {
    Sample s = p->Get(i);
    const json& labels = s.labels;
    int64_t frames = s.video.size(1);
    ASSERT_EQ(labels["count"].get<size_t>(), labels["objects"].size());
    // The background is the commonest colour of the first frame.
    at::Tensor bg = ColorMask(s.video, labels["background"]);
    EXPECT_GT(bg[0].sum().item<int64_t>(), 32 * 32 / 3) << "sample " << i;
    for (const json& o : labels["objects"]) {
      at::Tensor mask = ColorMask(s.video, o["color"]);
      ASSERT_EQ(o["trajectory"].size(), static_cast<size_t>(frames));
      for (int64_t t = 0; t < frames; ++t) {
        double x = o["trajectory"][t][0], y = o["trajectory"][t][1];
        ASSERT_TRUE(mask[t][static_cast<int64_t>(y)][static_cast<int64_t>(x)].item<bool>())
            << "sample " << i << " frame " << t << ": no " << o["color"] << " at its centre (" << x
            << ", " << y << ")";
      }
      // The colour's centroid moves as labelled.
      auto centroid = [&](int64_t t) {
        at::Tensor where = mask[t].nonzero().to(torch::kDouble);  // [n, (row, col)]
        return std::array<double, 2>{where.select(1, 1).mean().item<double>() + 0.5,
                                     where.select(1, 0).mean().item<double>() + 0.5};
      };
      auto first = centroid(0), last = centroid(frames - 1);
      double dx = last[0] - first[0], dy = last[1] - first[1];
      auto dir = *SyntheticMotionDirection(o["motion"].get<std::string>());
      double travel = *SyntheticSpeedFraction(o["speed"].get<std::string>()) * 32;
      double along = dx * dir[0] + dy * dir[1];
      double across = std::abs(-dx * dir[1] + dy * dir[0]);
      if (o["motion"] == "still") {
        EXPECT_EQ(o["speed"], "none");
        EXPECT_LT(std::hypot(dx, dy), 1e-9) << "sample " << i;
      } else {
        EXPECT_NEAR(along, travel, 1.5) << "sample " << i << " " << o.dump();
        EXPECT_LT(across, 1.5) << "sample " << i << " " << o.dump();
      }
      // The radius follows the size.
      EXPECT_NEAR(o["radius"].get<double>(),
                  *SyntheticSizeFraction(o["size"].get<std::string>()) * 32, 1e-3);
    }
    for (const json& r : labels["relations"]) {
      const json& a = labels["objects"][r["subject"].get<int>()]["trajectory"][0];
      const json& b = labels["objects"][r["object"].get<int>()]["trajectory"][0];
      EXPECT_EQ(r["relation"], SyntheticRelation(a[0], a[1], b[0], b[1])) << "sample " << i;
    }
    EXPECT_EQ(labels["relations"].size(), labels["objects"].size() - 1);
  }
}

TEST(Synthetic, LabelsAgreeWithPixelsInBaseDomain) {
  CheckLabelsAgreeWithPixels("domain = \"base\"", 30);
}

TEST(Synthetic, LabelsAgreeWithPixelsInContinualDomain) {
  CheckLabelsAgreeWithPixels("domain = \"continual\"\nmin_objects = 2", 40);
}

TEST(Synthetic, LabelsAgreeWithPixelsWithCentredPaths) {
  CheckLabelsAgreeWithPixels("domain = \"continual\"\nmin_objects = 2\npaths = \"centred\"", 40);
}

// The main object's path is centred on the frame within the jitter, so its motion word says
// which side it starts on; random paths start anywhere, and the other objects still do.
TEST(Synthetic, CentredPathsPutTheMainObjectsMidpointNearTheCentre) {
  for (const char* domain : {"base", "continual"}) {
    auto centred = Opened(fmt::format("domain = \"{}\"\npaths = \"centred\"", domain));
    auto random = Opened(fmt::format("domain = \"{}\"", domain));
    double centred_spread = 0, random_spread = 0, others_spread = 0;
    int others = 0;
    const int n = 60;
    for (int i = 0; i < n; ++i) {
      const json labels = centred->Get(i).labels;
      const json& main = labels["objects"][0];
      const json &first = main["trajectory"].front(), &last = main["trajectory"].back();
      double mx = (first[0].get<double>() + last[0].get<double>()) / 2,
             my = (first[1].get<double>() + last[1].get<double>()) / 2;
      // Within 1/8 of the 32-pixel side across the motion, a quarter of the travel along it.
      EXPECT_LE(std::hypot(mx - 16, my - 16), 4 * std::sqrt(2.0) + 1e-3)
          << domain << " sample " << i;
      centred_spread += std::hypot(mx - 16, my - 16) / n;
      auto dir = *SyntheticMotionDirection(main["motion"].get<std::string>());
      double travel = *SyntheticSpeedFraction(main["speed"].get<std::string>()) * 32;
      EXPECT_LE(std::abs((mx - 16) * dir[0] + (my - 16) * dir[1]), travel / 4 + 1e-3);
      EXPECT_LE(std::abs(-(mx - 16) * dir[1] + (my - 16) * dir[0]), 4 + 1e-3);
      // A left-moving object starts right of the centre and ends left of it.
      auto side = [&](const json& at) {
        return (at[0].get<double>() - 16) * dir[0] + (at[1].get<double>() - 16) * dir[1];
      };
      if (travel > 0) {
        EXPECT_LT(side(first), 0) << domain << " sample " << i;
        EXPECT_GT(side(last), 0) << domain << " sample " << i;
      }
      for (size_t k = 1; k < labels["objects"].size(); ++k) {
        const json& start = labels["objects"][k]["trajectory"][0];
        others_spread += std::hypot(start[0].get<double>() - 16, start[1].get<double>() - 16);
        ++others;
      }
      const json r = random->Get(i).labels["objects"][0]["trajectory"];
      random_spread +=
          std::hypot((r.front()[0].get<double>() + r.back()[0].get<double>()) / 2 - 16,
                     (r.front()[1].get<double>() + r.back()[1].get<double>()) / 2 - 16) /
          n;
    }
    // Not pinned to one point either: the midpoints spread over more than a pixel.
    EXPECT_GT(centred_spread, 1.0) << domain;
    EXPECT_GT(random_spread, 2 * centred_spread) << domain;
    if (others > 0) EXPECT_GT(others_spread / others, 2 * centred_spread) << domain;
  }
  EXPECT_THROW(Construct("paths = \"middle\""), InputError);
}

TEST(Synthetic, CaptionsStateEveryLabelledAttribute) {
  for (const char* domain : {"base", "continual"}) {
    auto p = Opened(fmt::format("domain = \"{}\"", domain));
    for (int i = 0; i < 40; ++i) {
      Sample s = p->Get(i);
      const std::string& short_caption = s.captions.at("short");
      const std::string& detailed = s.captions.at("detailed");
      const json& main = s.labels["objects"][0];
      for (const char* key : {"color", "shape", "motion"})
        EXPECT_TRUE(Has(short_caption, main[key])) << short_caption << " lacks " << main[key];
      EXPECT_LE(Words(short_caption), 6u) << short_caption;
      // Detailed: every attribute of every object, the background, the count and the relations.
      EXPECT_TRUE(Has(detailed, s.labels["background"].get<std::string>() + " background"));
      const char* counts[] = {"", "one object", "two objects", "three objects"};
      EXPECT_TRUE(Has(detailed, counts[s.labels["count"].get<int>()])) << detailed;
      for (const json& o : s.labels["objects"]) {
        std::string noun = o["size"].get<std::string>() + " " + o["color"].get<std::string>() +
                           " " + o["shape"].get<std::string>();
        EXPECT_TRUE(Has(detailed, noun)) << detailed << " lacks " << noun;
        EXPECT_TRUE(Has(detailed, o["motion"])) << detailed;
        if (o["speed"] != "none") EXPECT_TRUE(Has(detailed, o["speed"])) << detailed;
      }
      for (const json& r : s.labels["relations"]) {
        std::string phrase =
            r["relation"].get<std::string>() + " the " +
            s.labels["objects"][r["object"].get<int>()]["color"].get<std::string>();
        EXPECT_TRUE(Has(detailed, phrase)) << detailed << " lacks " << phrase;
      }
      // Long enough that a 16-token text window cannot see it all.
      EXPECT_GE(Words(detailed), 35u) << detailed;
      EXPECT_LE(Words(detailed), 75u) << detailed;
    }
  }
}

TEST(Synthetic, TrainAndHeldOutSplitsNeverShareASample) {
  auto train = Opened("domain = \"continual\"\nsize = 60");
  auto heldout = Opened("domain = \"continual\"\nsplit = \"heldout\"\nsize = 60");
  EXPECT_EQ(Opened("split = \"heldout\"")->size(), 128);
  std::set<std::string> seen;
  for (int i = 0; i < 60; ++i) seen.insert(train->Get(i).labels.dump());
  EXPECT_EQ(seen.size(), 60u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_FALSE(seen.count(heldout->Get(i).labels.dump())) << "held-out " << i << " is in train";
  }
  EXPECT_NE(train->CacheKey(), heldout->CacheKey());
}

TEST(Synthetic, BaseDomainIsNarrowAndContinualAddsEveryNewValue) {
  auto base = Opened("domain = \"base\"\nsize = 200");
  const SyntheticVocabulary& bv = SyntheticBaseVocabulary();
  auto in = [](const auto& list, const std::string& v) {
    for (const auto& x : list)
      if constexpr (std::is_same_v<std::decay_t<decltype(x)>, SyntheticColor>) {
        if (x.name == v) return true;
      } else if (x == v) {
        return true;
      }
    return false;
  };
  for (int i = 0; i < 200; ++i) {
    json l = base->Get(i).labels;
    EXPECT_EQ(l["domain"], "base");
    EXPECT_EQ(l["count"], 1);
    const json& o = l["objects"][0];
    EXPECT_TRUE(in(bv.colors, o["color"])) << o;
    EXPECT_TRUE(in(bv.shapes, o["shape"])) << o;
    EXPECT_TRUE(in(bv.motions, o["motion"])) << o;
    EXPECT_TRUE(in(bv.backgrounds, l["background"])) << l;
    EXPECT_EQ(o["size"], "medium");
    EXPECT_EQ(o["speed"], "slow");
  }

  auto continual = Opened("domain = \"continual\"\nsize = 300");
  std::set<std::string> colors, shapes, motions, sizes, speeds, backgrounds, relations;
  std::set<int> counts;
  for (int i = 0; i < 300; ++i) {
    json l = continual->Get(i).labels;
    EXPECT_EQ(l["domain"], "continual");
    counts.insert(l["count"].get<int>());
    backgrounds.insert(l["background"]);
    std::set<std::string> scene_colors;
    for (const json& o : l["objects"]) {
      colors.insert(o["color"]);
      scene_colors.insert(o["color"]);
      shapes.insert(o["shape"]);
      motions.insert(o["motion"]);
      sizes.insert(o["size"]);
      speeds.insert(o["speed"]);
    }
    EXPECT_EQ(scene_colors.size(), l["objects"].size()) << "colours repeat in " << l;
    for (const json& r : l["relations"]) relations.insert(r["relation"]);
  }
  const SyntheticVocabulary& cv = SyntheticContinualVocabulary();
  EXPECT_EQ(colors.size(), cv.colors.size());
  EXPECT_EQ(shapes.size(), cv.shapes.size());
  EXPECT_EQ(motions.size(), cv.motions.size());
  EXPECT_EQ(backgrounds.size(), cv.backgrounds.size());
  EXPECT_EQ(sizes, (std::set<std::string>{"small", "medium", "large"}));
  EXPECT_EQ(speeds, (std::set<std::string>{"slow", "fast", "none"}));
  EXPECT_EQ(counts, (std::set<int>{1, 2, 3}));
  EXPECT_EQ(relations.size(), 4u);
}

TEST(Synthetic, ContinualKnobsSelectNewValuesAndObjectCounts) {
  auto p = Opened(R"(domain = "continual"
new_colors = ["purple"]
new_shapes = []
new_motions = ["still"]
new_backgrounds = []
sizes = ["small"]
speeds = ["fast"]
min_objects = 2
max_objects = 2
size = 80)");
  std::set<std::string> colors;
  for (int i = 0; i < 80; ++i) {
    json l = p->Get(i).labels;
    EXPECT_EQ(l["count"], 2);
    for (const json& o : l["objects"]) {
      colors.insert(o["color"]);
      EXPECT_TRUE(o["shape"] == "circle" || o["shape"] == "square" || o["shape"] == "triangle");
      EXPECT_EQ(o["size"], "small");
      EXPECT_TRUE(o["speed"] == "fast" || o["speed"] == "none");
    }
  }
  EXPECT_EQ(colors, (std::set<std::string>{"red", "green", "blue", "yellow", "purple"}));
}

// The base domain keeps its one object and short captions at any size and speed; naming its
// defaults (medium, slow) gives the same cache key as leaving them out.
TEST(Synthetic, BaseDomainTakesSizesAndSpeeds) {
  auto p = Opened("speeds = [\"fast\"]\nsizes = [\"large\", \"small\"]\nsize = 60");
  std::set<std::string> sizes;
  for (int i = 0; i < 60; ++i) {
    Sample s = p->Get(i);
    EXPECT_EQ(s.labels["count"], 1);
    const json& o = s.labels["objects"][0];
    EXPECT_EQ(o["speed"], "fast");
    sizes.insert(o["size"]);
    double dx = o["trajectory"].back()[0].get<double>() - o["trajectory"][0][0].get<double>();
    double dy = o["trajectory"].back()[1].get<double>() - o["trajectory"][0][1].get<double>();
    EXPECT_NEAR(std::hypot(dx, dy), *SyntheticSpeedFraction("fast") * 32, 1e-3) << o;
    EXPECT_EQ(s.captions["short"].find("fast"), std::string::npos) << s.captions["short"];
  }
  EXPECT_EQ(sizes, (std::set<std::string>{"large", "small"}));
  EXPECT_NE(p->CacheKey(), Construct("sizes = [\"large\", \"small\"]\nsize = 60")->CacheKey());
  EXPECT_EQ(Construct("speeds = [\"slow\"]\nsizes = [\"medium\"]")->CacheKey(),
            Construct("")->CacheKey());
  EXPECT_THROW_WITH(Construct("speeds = [\"warp\"]"), ValidationError, "speeds",
                    "unknown speed 'warp'", "slow, fast");
  EXPECT_THROW_WITH(Construct("sizes = []"), ValidationError, "sizes", "at least one size");
}

// Without the base values the continual domain shares no colour, shape, motion or background with
// the base domain, so training on it cannot rehearse the base.
TEST(Synthetic, ContinualDomainWithoutBaseValuesDrawsOnlyNewOnes) {
  auto p = Opened("domain = \"continual\"\ninclude_base = false\nsize = 120");
  const SyntheticVocabulary& base = SyntheticBaseVocabulary();
  std::set<std::string> base_values(base.shapes.begin(), base.shapes.end());
  base_values.insert(base.motions.begin(), base.motions.end());
  for (const auto& c : base.colors) base_values.insert(c.name);
  for (const auto& c : base.backgrounds) base_values.insert(c.name);
  std::set<std::string> colors, shapes, motions, backgrounds;
  for (int i = 0; i < 120; ++i) {
    json l = p->Get(i).labels;
    backgrounds.insert(l["background"]);
    for (const json& o : l["objects"]) {
      colors.insert(o["color"]);
      shapes.insert(o["shape"]);
      motions.insert(o["motion"]);
    }
  }
  for (const auto* drawn : {&colors, &shapes, &motions, &backgrounds}) {
    for (const std::string& v : *drawn) EXPECT_FALSE(base_values.contains(v)) << v;
  }
  EXPECT_EQ(colors.size(), SyntheticNewColors().size());
  EXPECT_EQ(shapes.size(), SyntheticNewShapes().size());
  EXPECT_EQ(motions.size(), SyntheticNewMotions().size());
  EXPECT_EQ(backgrounds.size(), 2u);
  EXPECT_NE(p->CacheKey(), Construct("domain = \"continual\"\nsize = 120")->CacheKey());

  EXPECT_THROW_WITH(Construct("domain = \"continual\"\ninclude_base = false\nnew_shapes = []"),
                    ValidationError, "new_shapes", "at least one value when include_base = false");
  EXPECT_THROW_WITH(
      Construct("domain = \"continual\"\ninclude_base = false\nnew_colors = [\"pink\", \"cyan\"]"),
      ValidationError, "new_colors", "2 colour(s) cannot colour scenes of up to 3 objects");
  EXPECT_NO_THROW(Construct(
      "domain = \"continual\"\ninclude_base = false\nnew_colors = [\"pink\"]\nmax_objects = 1"));
  EXPECT_THROW_WITH(Construct("include_base = false"), ValidationError, "include_base",
                    "only applies to domain = \"continual\"");
}

TEST(Synthetic, BadOptionsAreReportedTogether) {
  EXPECT_THROW_WITH(Construct("domain = \"space\""), ValidationError, "data pipeline 'synthetic'",
                    "domain", "continual");
  EXPECT_THROW_WITH(Construct("max_objects = 2\nnew_colors = [\"pink\"]"), ValidationError,
                    "max_objects", "new_colors", "only applies to domain = \"continual\"");
  EXPECT_THROW_WITH(Construct("domain = \"continual\"\nnew_colors = [\"red\", \"teal\"]"),
                    ValidationError, "new_colors", "'red' is not a new colour", "'teal'", "purple");
  EXPECT_THROW_WITH(Construct("domain = \"continual\"\nmin_objects = 3\nmax_objects = 2"),
                    ValidationError, "min_objects", "must be <= max_objects (2), got 3");
  EXPECT_THROW_WITH(Construct("domain = \"continual\"\nsizes = [\"huge\"]"), ValidationError,
                    "unknown size 'huge'");
  EXPECT_THROW_WITH(Construct("frames = 1\nheight = 8\nsplits = 2"), ValidationError, "frames",
                    "height", "unknown key 'splits'");
  auto p = Opened("size = 3");
  EXPECT_THROW_WITH(p->Get(3), InputError, "index 3 out of range [0, 3)");
}

// The classes are the full continual vocabulary whatever the domain, so a classifier trained on
// one pipeline scores another; the captions state what the schema says.
TEST(Synthetic, DeclaresOneLabelSchemaForEveryDomain) {
  auto base = Opened("");
  auto continual = Opened("domain = \"continual\"\nnew_colors = [\"pink\"]");
  std::optional<LabelSchema> schema = base->label_schema();
  ASSERT_TRUE(schema.has_value());
  EXPECT_EQ(continual->label_schema(), schema);
  const SyntheticVocabulary& v = SyntheticContinualVocabulary();
  ASSERT_EQ(schema->classes.at("color").size(), v.colors.size());
  for (size_t i = 0; i < v.colors.size(); ++i) {
    EXPECT_EQ(schema->classes.at("color")[i], v.colors[i].name);
  }
  EXPECT_EQ(schema->classes.at("shape"), v.shapes);
  EXPECT_EQ(schema->classes.at("motion"), v.motions);
  EXPECT_EQ(schema->classes.at("count"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(schema->classes.at("relation"),
            (std::vector<std::string>{"none", "side by side", "stacked"}));
  EXPECT_EQ(schema->classes.at("colors"), schema->classes.at("color"));
  EXPECT_EQ(schema->multi_label, (std::set<std::string>{"colors"}));
  EXPECT_EQ(schema->classes.size(), 6u);
  EXPECT_EQ(schema->stated_by.at("short"), (std::vector<std::string>{"color", "shape", "motion"}));
  EXPECT_EQ(schema->stated_by.at("detailed"),
            (std::vector<std::string>{"color", "shape", "motion", "count", "relation", "colors"}));
  EXPECT_EQ(LabelSchema::FromJson(schema->ToJson()), *schema);
}

// Color, shape and motion are targets only when the object is alone (a video does not show which
// of several objects is object 0), the set of colours only when it is not; count and the
// arrangement of objects 0 and 1 always.
TEST(Synthetic, TargetsFollowTheLabels) {
  auto p = Opened("domain = \"continual\"\nsize = 120");
  const LabelSchema schema = *p->label_schema();
  auto index = [&](const std::string& category, const std::string& value) {
    const auto& names = schema.classes.at(category);
    return static_cast<int64_t>(std::find(names.begin(), names.end(), value) - names.begin());
  };
  std::set<int64_t> relations_seen;
  int alone = 0, together = 0;
  for (int i = 0; i < 120; ++i) {
    Sample s = p->Get(i);
    const json& l = s.labels;
    const int64_t count = l["count"].get<int64_t>();
    EXPECT_EQ(s.targets.at("count"), count - 1);
    if (count == 1) {
      ++alone;
      const json& o = l["objects"][0];
      EXPECT_EQ(s.targets.at("color"), index("color", o["color"]));
      EXPECT_EQ(s.targets.at("shape"), index("shape", o["shape"]));
      EXPECT_EQ(s.targets.at("motion"), index("motion", o["motion"]));
      EXPECT_EQ(s.targets.at("relation"), index("relation", "none"));
      EXPECT_EQ(s.targets.size(), 5u);
    } else {
      ++together;
      int64_t colors = 0;
      for (const json& o : l["objects"]) colors |= int64_t{1} << index("colors", o["color"]);
      EXPECT_EQ(s.targets.at("colors"), colors) << l["objects"];
      // Objects have distinct colours, so the set has one per object.
      EXPECT_EQ(std::popcount(static_cast<uint64_t>(colors)), count);
      EXPECT_TRUE(schema.IsValidTarget("colors", colors));
      EXPECT_FALSE(s.targets.contains("color"));
      EXPECT_FALSE(s.targets.contains("shape"));
      EXPECT_FALSE(s.targets.contains("motion"));
      std::string relation;
      for (const json& r : l["relations"]) {
        if (r["subject"] == 0 && r["object"] == 1) relation = r["relation"];
      }
      const bool side = relation == "left of" || relation == "right of";
      EXPECT_EQ(s.targets.at("relation"), index("relation", side ? "side by side" : "stacked"))
          << l["relations"];
    }
    relations_seen.insert(s.targets.at("relation"));
  }
  EXPECT_GT(alone, 0);
  EXPECT_GT(together, 0);
  EXPECT_EQ(relations_seen.size(), 3u);
}

TEST(Synthetic, CacheKeyIsAContentHashOfTheSettings) {
  std::string key = Construct("")->CacheKey();
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, Construct("size = 1024")->CacheKey());  // the default, spelt out
  EXPECT_NE(key, Construct("size = 1000")->CacheKey());
  EXPECT_NE(key, Construct("fps = 9")->CacheKey());
  EXPECT_EQ(key, Construct("paths = \"random\"")->CacheKey());
  EXPECT_NE(key, Construct("paths = \"centred\"")->CacheKey());
}

TEST(SyntheticVocabulary, DomainsNestAndNamesResolve) {
  const SyntheticVocabulary& base = SyntheticBaseVocabulary();
  const SyntheticVocabulary& continual = SyntheticContinualVocabulary();
  EXPECT_EQ(&SyntheticVocabularyOf("base"), &base);
  EXPECT_THROW_WITH(SyntheticVocabularyOf("x"), InputError, "unknown synthetic domain 'x'");
  EXPECT_EQ(continual.colors.size(), base.colors.size() + SyntheticNewColors().size());
  EXPECT_EQ(continual.shapes.size(), base.shapes.size() + SyntheticNewShapes().size());
  EXPECT_EQ(continual.motions.size(), base.motions.size() + SyntheticNewMotions().size());
  for (const auto& c : continual.colors) {
    for (const auto& b : continual.backgrounds) EXPECT_NE(c.rgb, b.rgb);
    EXPECT_EQ(*SyntheticColorRgb(c.name), c.rgb);
  }
  EXPECT_FALSE(SyntheticColorRgb("mauve").has_value());
  EXPECT_FALSE(SyntheticMotionDirection("sideways").has_value());
  EXPECT_EQ(SyntheticRelation(1, 5, 9, 6), "left of");
  EXPECT_EQ(SyntheticRelation(5, 9, 6, 1), "below");
}

}  // namespace
}  // namespace modelgrow
