#include "modelgrow/model/config.h"

#include <map>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

using json = nlohmann::json;

std::vector<std::string> STDiT3Config::ConditionNames() const {
  std::vector<std::string> names{condition0_name};
  for (const TextConditionSpec& c : extra_conditions) names.push_back(c.name);
  return names;
}

std::vector<BlockRef> STDiT3Config::ResolvedOrder() const {
  if (!block_order.empty()) return block_order;
  std::vector<BlockRef> order;
  int64_t n = std::max(spatial_count(), temporal_count());
  for (int64_t i = 0; i < n; ++i) {
    if (i < spatial_count()) order.push_back({false, i});
    if (i < temporal_count()) order.push_back({true, i});
  }
  return order;
}

bool STDiT3Config::IsDefaultOrder() const {
  if (spatial_count() != temporal_count()) return false;
  STDiT3Config plain = *this;
  plain.block_order.clear();
  return block_order.empty() || block_order == plain.ResolvedOrder();
}

void STDiT3Config::Validate() const {
  auto fail = [](const std::string& message) { throw InputError("model config: " + message); };
  if (hidden_size <= 0) fail(fmt::format("hidden_size must be positive, got {}", hidden_size));
  if (hidden_size % 4 != 0) {
    fail(fmt::format("hidden_size must be a multiple of 4 (2-D sin/cos position embedding), got {}",
                     hidden_size));
  }
  if (num_heads <= 0) fail(fmt::format("num_heads must be positive, got {}", num_heads));
  if (head_dim == 0 && hidden_size % num_heads != 0) {
    fail(fmt::format("hidden_size {} is not divisible by num_heads {}", hidden_size, num_heads));
  }
  if (resolved_head_dim() % 2 != 0) {
    fail(
        fmt::format("head dimension must be even (rotary embedding), got {}", resolved_head_dim()));
  }
  if (depth < 0) fail(fmt::format("depth must be >= 0, got {}", depth));
  if (head_dim < 0) fail(fmt::format("head_dim must be >= 0, got {}", head_dim));
  if (pos_embed_dim < 0 ||
      (pos_embed_dim > 0 && (pos_embed_dim % 4 != 0 || hidden_size % pos_embed_dim != 0))) {
    fail(fmt::format("pos_embed_dim {} must be a multiple of 4 that divides hidden_size {}",
                     pos_embed_dim, hidden_size));
  }
  for (int i = 0; i < 3; ++i) {
    if (patch_size[i] <= 0) fail(fmt::format("patch_size[{}] must be positive", i));
  }
  if (in_channels <= 0) fail("in_channels must be positive");
  if (caption_channels <= 0) fail("caption_channels must be positive");
  if (model_max_length <= 0) fail("model_max_length must be positive");
  // Sizes from a file are bounded before anything is built from them (sdk/limits.h): a
  // config.json with depth = 1e9 or hidden_size = 2^40 is an error here, not an allocation.
  auto bound = [&](const char* field, int64_t value, int64_t limit) {
    if (value > limit) fail(fmt::format("{} is {}, above the limit of {}", field, value, limit));
  };
  bound("hidden_size", hidden_size, limits::kMaxWidth);
  bound("num_heads", num_heads, limits::kMaxWidth);
  bound("head_dim", head_dim, limits::kMaxWidth);
  bound("depth", depth, limits::kMaxLayers);
  bound("modelgrow_num_spatial_blocks", num_spatial_blocks, limits::kMaxLayers);
  bound("modelgrow_num_temporal_blocks", num_temporal_blocks, limits::kMaxLayers);
  for (int i = 0; i < 3; ++i) bound("patch_size", patch_size[i], 1024);
  bound("in_channels", in_channels, limits::kMaxWidth);
  bound("caption_channels", caption_channels, limits::kMaxWidth);
  bound("model_max_length", model_max_length, limits::kMaxWidth);
  bound("input_sq_size", input_sq_size, limits::kMaxWidth);
  bound("mlp_hidden_size", mlp_hidden_size, limits::kMaxWidth);
  bound("text conditions", static_cast<int64_t>(extra_conditions.size()), 64);
  bound("growth masks", static_cast<int64_t>(growth_masks.size()), 4 * limits::kMaxLayers);
  for (const GrowthMask& m : growth_masks) {
    if (m.module.empty()) fail("a growth mask names no module");
    if (!std::isfinite(m.value) || m.value < 0 || m.value > 1) {
      fail(fmt::format("growth mask of '{}' is {}, expected a value in [0, 1]", m.module, m.value));
    }
    if (m.first_input < -1) {
      fail(
          fmt::format("growth mask of '{}' has first_input {}, expected -1 (a whole block) or an "
                      "input index",
                      m.module, m.first_input));
    }
  }
  // Checked as a double first: hidden_size * mlp_ratio may not fit an integer at all.
  if (!(mlp_ratio > 0) || static_cast<double>(hidden_size) * mlp_ratio > limits::kMaxWidth)
    fail(fmt::format("mlp_ratio {} gives an MLP hidden size outside (0, {}]", mlp_ratio,
                     limits::kMaxWidth));
  if (resolved_mlp_hidden() <= 0) fail("MLP hidden size must be positive");
  if (!block_order.empty() &&
      static_cast<int64_t>(block_order.size()) > spatial_count() + temporal_count())
    fail(fmt::format("block order names {} blocks but the model has {}", block_order.size(),
                     spatial_count() + temporal_count()));
  for (size_t k = 0; k < extra_conditions.size(); ++k) {
    const auto& c = extra_conditions[k];
    if (c.caption_channels <= 0 || c.token_num <= 0) {
      fail(fmt::format("text condition {} ('{}') needs positive caption_channels and token_num",
                       k + 1, c.name));
    }
    bound("text condition caption_channels", c.caption_channels, limits::kMaxWidth);
    bound("text condition token_num", c.token_num, limits::kMaxWidth);
  }
  // Each block holds about 4 h^2 (attention) + 2 h m (MLP) weights, and spatial blocks 4 h^2 per
  // text condition more; the bound keeps a config within kMaxParameters before it is built.
  const double h = static_cast<double>(std::max(hidden_size, attention_dim()));
  const double m = static_cast<double>(resolved_mlp_hidden());
  const double per_block =
      4 * h * h + 2 * h * m + 4 * h * h * static_cast<double>(num_conditions());
  const double estimate = per_block * static_cast<double>(spatial_count() + temporal_count());
  if (estimate > static_cast<double>(limits::kMaxParameters))
    fail(fmt::format(
        "hidden_size {} with {} blocks means about {:.3g} parameters, above the limit "
        "of {}",
        hidden_size, spatial_count() + temporal_count(), estimate, limits::kMaxParameters));
  if (!block_order.empty()) {
    std::vector<int> seen_s(spatial_count(), 0), seen_t(temporal_count(), 0);
    for (const BlockRef& ref : block_order) {
      auto& seen = ref.temporal ? seen_t : seen_s;
      if (ref.index < 0 || ref.index >= static_cast<int64_t>(seen.size())) {
        fail(fmt::format("block order names {}{} but the list has {} blocks",
                         ref.temporal ? 't' : 's', ref.index, seen.size()));
      }
      ++seen[ref.index];
    }
    for (size_t i = 0; i < seen_s.size(); ++i) {
      if (seen_s[i] != 1) fail(fmt::format("block order must name s{} exactly once", i));
    }
    for (size_t i = 0; i < seen_t.size(); ++i) {
      if (seen_t[i] != 1) fail(fmt::format("block order must name t{} exactly once", i));
    }
  }
}

json STDiT3Config::ToJson() const {
  json j;
  j["architectures"] = {"STDiT3"};
  j["model_type"] = "STDiT3";
  j["hidden_size"] = hidden_size;
  j["depth"] = depth;
  j["num_heads"] = num_heads;
  j["mlp_ratio"] = mlp_ratio;
  j["patch_size"] = patch_size;
  j["in_channels"] = in_channels;
  j["pred_sigma"] = pred_sigma;
  j["caption_channels"] = caption_channels;
  j["model_max_length"] = model_max_length;
  j["qk_norm"] = qk_norm;
  j["class_dropout_prob"] = class_dropout_prob;
  j["input_sq_size"] = input_sq_size;
  j["input_size"] = {nullptr, nullptr, nullptr};
  j["drop_path"] = 0.0;
  j["enable_flash_attn"] = false;
  j["enable_layernorm_kernel"] = false;
  j["enable_sequence_parallelism"] = false;
  j["only_train_temporal"] = false;
  j["freeze_y_embedder"] = false;
  j["skip_y_embedder"] = false;
  j["torch_dtype"] = "float32";
  // What Open-Sora's config lacks, only when it differs from what Open-Sora would assume.
  if (head_dim > 0 && head_dim * num_heads != hidden_size) j["modelgrow_head_dim"] = head_dim;
  if (pos_embed_dim > 0 && pos_embed_dim != hidden_size)
    j["modelgrow_pos_embed_dim"] = pos_embed_dim;
  if (temporal_pos_embed) j["modelgrow_temporal_pos_embed"] = true;
  if (mlp_hidden_size > 0 &&
      mlp_hidden_size != static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio)) {
    j["modelgrow_mlp_hidden_size"] = mlp_hidden_size;
  }
  if (condition0_name != "t5") j["modelgrow_condition0_name"] = condition0_name;
  if (!extra_conditions.empty()) {
    json list = json::array();
    for (const auto& c : extra_conditions) {
      list.push_back(
          {{"name", c.name}, {"caption_channels", c.caption_channels}, {"token_num", c.token_num}});
    }
    j["modelgrow_text_conditions"] = list;
  }
  if (!IsDefaultOrder()) {
    j["modelgrow_num_spatial_blocks"] = spatial_count();
    j["modelgrow_num_temporal_blocks"] = temporal_count();
    json order = json::array();
    for (const BlockRef& ref : ResolvedOrder()) {
      order.push_back(fmt::format("{}{}", ref.temporal ? 't' : 's', ref.index));
    }
    j["modelgrow_block_order"] = order;
  }
  if (!growth_masks.empty()) {
    json list = json::array();
    for (const GrowthMask& m : growth_masks) {
      list.push_back({{"module", m.module}, {"first_input", m.first_input}, {"value", m.value}});
    }
    j["modelgrow_growth_masks"] = list;
  }
  return j;
}

namespace {

template <typename T>
T Field(const json& j, const char* key, T fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  // nlohmann converts 1e30 to an integer with an undefined cast: integers must be integers.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!it->is_number_integer())
      throw InputError(
          fmt::format("{}: field '{}' must be an integer, got {}", source, key, it->dump()));
  }
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    if (it->is_array()) {
      for (const json& v : *it) {
        if (!v.is_number_integer())
          throw InputError(
              fmt::format("{}: field '{}' must hold integers, got {}", source, key, it->dump()));
      }
    }
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw InputError(
        fmt::format("{}: field '{}' has the wrong type ({})", source, key, it->type_name()));
  }
}

}  // namespace

STDiT3Config STDiT3Config::FromJson(const json& j, const std::string& source) {
  if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object", source));
  std::string type = Field<std::string>(j, "model_type", "STDiT3", source);
  if (type != "STDiT3") {
    throw InputError(fmt::format("{}: model_type is '{}', expected 'STDiT3'", source, type));
  }
  static const char* kKnownExtras[] = {"modelgrow_head_dim",
                                       "modelgrow_pos_embed_dim",
                                       "modelgrow_temporal_pos_embed",
                                       "modelgrow_mlp_hidden_size",
                                       "modelgrow_condition0_name",
                                       "modelgrow_text_conditions",
                                       "modelgrow_num_spatial_blocks",
                                       "modelgrow_num_temporal_blocks",
                                       "modelgrow_block_order",
                                       "modelgrow_growth_masks",
                                       "modelgrow"};
  for (const auto& [key, value] : j.items()) {
    if (key.rfind("modelgrow", 0) != 0) continue;
    if (std::find(std::begin(kKnownExtras), std::end(kKnownExtras), key) ==
        std::end(kKnownExtras)) {
      throw InputError(fmt::format("{}: unknown field '{}'", source, key));
    }
  }
  STDiT3Config c;
  c.hidden_size = Field<int64_t>(j, "hidden_size", c.hidden_size, source);
  c.depth = Field<int64_t>(j, "depth", c.depth, source);
  c.num_heads = Field<int64_t>(j, "num_heads", c.num_heads, source);
  c.mlp_ratio = Field<double>(j, "mlp_ratio", c.mlp_ratio, source);
  auto patch = Field<std::vector<int64_t>>(j, "patch_size", {1, 2, 2}, source);
  if (patch.size() != 3)
    throw InputError(fmt::format("{}: patch_size must have 3 entries", source));
  c.patch_size = {patch[0], patch[1], patch[2]};
  c.in_channels = Field<int64_t>(j, "in_channels", c.in_channels, source);
  c.pred_sigma = Field<bool>(j, "pred_sigma", c.pred_sigma, source);
  c.caption_channels = Field<int64_t>(j, "caption_channels", c.caption_channels, source);
  c.model_max_length = Field<int64_t>(j, "model_max_length", c.model_max_length, source);
  c.qk_norm = Field<bool>(j, "qk_norm", c.qk_norm, source);
  c.class_dropout_prob = Field<double>(j, "class_dropout_prob", c.class_dropout_prob, source);
  c.input_sq_size = Field<int64_t>(j, "input_sq_size", c.input_sq_size, source);
  c.head_dim = Field<int64_t>(j, "modelgrow_head_dim", 0, source);
  c.pos_embed_dim = Field<int64_t>(j, "modelgrow_pos_embed_dim", 0, source);
  c.temporal_pos_embed = Field<bool>(j, "modelgrow_temporal_pos_embed", false, source);
  c.mlp_hidden_size = Field<int64_t>(j, "modelgrow_mlp_hidden_size", 0, source);
  c.condition0_name = Field<std::string>(j, "modelgrow_condition0_name", "t5", source);
  if (auto it = j.find("modelgrow_text_conditions"); it != j.end()) {
    if (!it->is_array()) {
      throw InputError(fmt::format("{}: modelgrow_text_conditions must be an array", source));
    }
    for (const auto& item : *it) {
      if (!item.is_object())
        throw InputError(fmt::format("{}: modelgrow_text_conditions holds {}, expected objects",
                                     source, item.type_name()));
      TextConditionSpec spec;
      spec.name = Field<std::string>(item, "name", "", source);
      spec.caption_channels = Field<int64_t>(item, "caption_channels", 0, source);
      spec.token_num = Field<int64_t>(item, "token_num", 0, source);
      c.extra_conditions.push_back(spec);
    }
  }
  c.num_spatial_blocks = Field<int64_t>(j, "modelgrow_num_spatial_blocks", -1, source);
  c.num_temporal_blocks = Field<int64_t>(j, "modelgrow_num_temporal_blocks", -1, source);
  for (const std::string& entry :
       Field<std::vector<std::string>>(j, "modelgrow_block_order", {}, source)) {
    if (entry.size() < 2 || (entry[0] != 's' && entry[0] != 't')) {
      throw InputError(
          fmt::format("{}: block order entry '{}' is not s<i> or t<i>", source, entry));
    }
    const std::string digits = entry.substr(1);
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw InputError(
          fmt::format("{}: block order entry '{}' is not s<i> or t<i>", source, entry));
    }
    c.block_order.push_back({entry[0] == 't', std::stoll(digits)});
  }
  if (auto it = j.find("modelgrow_growth_masks"); it != j.end()) {
    if (!it->is_array()) {
      throw InputError(fmt::format("{}: modelgrow_growth_masks must be an array", source));
    }
    for (const auto& item : *it) {
      if (!item.is_object())
        throw InputError(fmt::format("{}: modelgrow_growth_masks holds {}, expected objects",
                                     source, item.type_name()));
      GrowthMask mask;
      mask.module = Field<std::string>(item, "module", "", source);
      mask.first_input = Field<int64_t>(item, "first_input", -1, source);
      mask.value = Field<double>(item, "value", 1.0, source);
      c.growth_masks.push_back(mask);
    }
  }
  try {
    c.Validate();
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", source, e.what()));
  }
  return c;
}

namespace {

STDiT3Config Small(int64_t hidden, int64_t depth, int64_t heads) {
  STDiT3Config c;
  c.hidden_size = hidden;
  c.depth = depth;
  c.num_heads = heads;
  c.patch_size = {1, 2, 2};
  c.in_channels = 3;  // the built-in synthetic world is RGB pixels, no VAE
  c.pred_sigma = false;
  c.caption_channels = 64;
  c.model_max_length = 32;
  c.input_sq_size = 512;
  return c;
}

const std::map<std::string, STDiT3Config>& Presets() {
  static const std::map<std::string, STDiT3Config> presets = [] {
    std::map<std::string, STDiT3Config> p;
    STDiT3Config xl;  // the defaults are Open-Sora 1.2's STDiT3-XL/2
    p["STDiT3-XL/2"] = xl;
    STDiT3Config b3 = xl;
    b3.hidden_size = 1872;
    b3.num_heads = 26;
    p["STDiT3-3B/2"] = b3;
    p["STDiT3-T/2"] = Small(64, 2, 4);   // ~0.3M parameters
    p["STDiT3-S/2"] = Small(128, 4, 4);  // ~2.3M
    p["STDiT3-M/2"] = Small(192, 6, 6);  // ~7M
    return p;
  }();
  return presets;
}

}  // namespace

STDiT3Config PresetConfig(const std::string& name) {
  auto it = Presets().find(name);
  if (it == Presets().end()) {
    std::string names;
    for (const auto& [n, c] : Presets()) names += (names.empty() ? "" : ", ") + n;
    throw InputError(fmt::format("unknown model preset '{}' (known: {})", name, names));
  }
  return it->second;
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const auto& [n, c] : Presets()) names.push_back(n);
  return names;
}

STDiT3Config ConfigFromOptions(const Options& t) {
  STDiT3Config c;
  std::string preset = t.String("preset", "STDiT3-S/2");
  try {
    c = PresetConfig(preset);
  } catch (const InputError& e) {
    t.Fail("preset", fmt::format("{}", e.what()));
  }
  c.hidden_size = t.Int("hidden_size", c.hidden_size, {.min = 4});
  c.depth = t.Int("depth", c.depth, {.min = 0});
  c.num_heads = t.Int("num_heads", c.num_heads, {.min = 1});
  c.head_dim = t.Int("head_dim", c.head_dim, {.min = 0});
  c.mlp_ratio = t.Double("mlp_ratio", c.mlp_ratio, {.min = 0, .min_exclusive = true});
  c.mlp_hidden_size = t.Int("mlp_hidden_size", c.mlp_hidden_size, {.min = 0});
  auto patch =
      t.IntList("patch_size", {c.patch_size[0], c.patch_size[1], c.patch_size[2]}, {.min = 1});
  if (patch.size() == 3) {
    c.patch_size = {patch[0], patch[1], patch[2]};
  } else {
    t.Fail("patch_size", fmt::format("expected 3 integers [t, h, w], got {}", patch.size()));
  }
  c.in_channels = t.Int("in_channels", c.in_channels, {.min = 1});
  c.pred_sigma = t.Bool("pred_sigma", c.pred_sigma);
  c.caption_channels = t.Int("caption_channels", c.caption_channels, {.min = 1});
  c.model_max_length = t.Int("model_max_length", c.model_max_length, {.min = 1});
  c.qk_norm = t.Bool("qk_norm", c.qk_norm);
  c.temporal_pos_embed = t.Bool("temporal_pos_embed", c.temporal_pos_embed);
  c.class_dropout_prob = t.Double("class_dropout_prob", c.class_dropout_prob, {.min = 0, .max = 1});
  c.input_sq_size = t.Int("input_sq_size", c.input_sq_size, {.min = 1});
  c.condition0_name = t.String("condition0_name", c.condition0_name);
  try {
    c.Validate();
  } catch (const InputError& e) {
    t.Fail("", e.what());
  }
  return c;
}

}  // namespace modelgrow
