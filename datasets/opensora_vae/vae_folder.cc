#include "vae_folder.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::vae {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json ReadJson(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(fmt::format("{}: cannot be read", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw InputError(fmt::format("{}: not a JSON object", file.string()));
  return j;
}

std::string Field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

bool IsPipeline(const json& j) {
  if (Field(j, "model_type") == "VideoAutoencoderPipeline") return true;
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const auto& a : j["architectures"]) {
      if (a == "VideoAutoencoderPipeline") return true;
    }
  }
  return j.contains("vae_2d") && j.contains("vae_temporal");
}

// A number, or a list with one entry per latent channel.
std::vector<double> Numbers(const json& j, const char* key, double fallback,
                            const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return {fallback};
  const json& v = j[key];
  if (v.is_number()) return {v.get<double>()};
  std::vector<double> out;
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number()) break;
      out.push_back(e.get<double>());
    }
    if (out.size() == v.size() && !out.empty()) return out;
  }
  throw InputError(
      fmt::format("{}: {} must be a number or a list of numbers, got {}", where, key, v.dump()));
}

int64_t Count(const json& j, const char* key, int64_t fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  if (j[key].is_null()) return 0;
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1)
    throw InputError(
        fmt::format("{}: {} must be an integer >= 1 or null, got {}", where, key, j[key].dump()));
  return j[key].get<int64_t>();
}

std::string ShapeText(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// diffusers' names before 0.14 for the mid block's attention.
std::string LegacyAttentionName(const std::string& key) {
  for (const auto& [now, then] :
       {std::pair{".to_q.", ".query."}, std::pair{".to_k.", ".key."},
        std::pair{".to_v.", ".value."}, std::pair{".to_out.0.", ".proj_attn."}}) {
    size_t at = key.find(now);
    if (at != std::string::npos && key.find(".attentions.") != std::string::npos)
      return key.substr(0, at) + then + key.substr(at + std::string(now).size());
  }
  return "";
}

}  // namespace

bool IsKnownSdxlVae(const std::string& name) {
  return name == "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers" ||
         name == "stabilityai/sdxl-vae" || name == "madebyollin/sdxl-vae-fp16-fix";
}

VaeFolder VaeFolder::Read(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec))
    throw InputError(fmt::format("VAE folder {} does not exist or is not a folder", path.string()));
  VaeFolder f;
  f.folder = path;
  if (!fs::exists(path / "config.json", ec) && fs::exists(path / "vae" / "config.json", ec))
    f.folder = path / "vae";
  f.config_file = f.folder / "config.json";
  if (!fs::exists(f.config_file, ec))
    throw InputError(fmt::format(
        "{}: no config.json (a VAE folder holds config.json and its safetensors weights)",
        path.string()));
  const json j = ReadJson(f.config_file);
  const std::string where = f.config_file.string();

  if (Field(j, "_class_name") == "AutoencoderKL") {
    f.pipeline = false;
    f.spatial = AutoencoderKLConfig::FromJson(j, where);
    f.micro_batch_size = 4;
    f.micro_frame_size = 0;
    f.weights_base =
        fs::exists(f.folder / "diffusion_pytorch_model.safetensors", ec) ||
                fs::exists(f.folder / "diffusion_pytorch_model.safetensors.index.json", ec)
            ? "diffusion_pytorch_model"
            : "model";
    f.spatial_prefix = "";
    return f;
  }
  if (!IsPipeline(j))
    throw InputError(fmt::format(
        "{}: neither Open-Sora's VAE (model_type \"VideoAutoencoderPipeline\", with vae_2d and "
        "vae_temporal) nor a diffusers AutoencoderKL (_class_name \"AutoencoderKL\"); it says "
        "model_type \"{}\", _class_name \"{}\"",
        where, Field(j, "model_type"), Field(j, "_class_name")));
  f.pipeline = true;
  f.weights_base = "model";
  f.spatial_prefix = "spatial_vae.module.";

  const json vae_2d = j.value("vae_2d", json::object());
  const std::string where_2d = where + ": vae_2d";
  if (!vae_2d.is_object()) throw InputError(where_2d + ": expected an object");
  if (Field(vae_2d, "type") != "VideoAutoencoderKL")
    throw InputError(fmt::format("{}: type \"{}\" is not supported (only \"VideoAutoencoderKL\")",
                                 where_2d, Field(vae_2d, "type")));
  if (vae_2d.contains("autoencoder_kl")) {
    // ModelGrow's extension: the AutoencoderKL's own config inline (other widths, for tests).
    f.spatial =
        AutoencoderKLConfig::FromJson(vae_2d["autoencoder_kl"], where_2d + ".autoencoder_kl");
  } else {
    const std::string from = Field(vae_2d, "from_pretrained");
    fs::path local = fs::path(from).is_absolute() ? fs::path(from) : f.folder / from;
    if (!from.empty() && fs::exists(local / Field(vae_2d, "subfolder") / "config.json", ec)) {
      fs::path file = local / Field(vae_2d, "subfolder") / "config.json";
      f.spatial = AutoencoderKLConfig::FromJson(ReadJson(file), file.string());
    } else if (IsKnownSdxlVae(from)) {
      f.spatial = AutoencoderKLConfig::Sdxl();
    } else {
      throw InputError(fmt::format(
          "{}: from_pretrained \"{}\" is neither a local folder with a config.json nor an "
          "architecture this loader knows (PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers, "
          "stabilityai/sdxl-vae); or give the AutoencoderKL config as vae_2d.autoencoder_kl",
          where_2d, from));
    }
  }
  f.micro_batch_size = Count(vae_2d, "micro_batch_size", 4, where_2d);

  const json temporal = j.value("vae_temporal", json::object());
  const std::string where_t = where + ": vae_temporal";
  if (!temporal.is_object()) throw InputError(where_t + ": expected an object");
  const std::string type = Field(temporal, "type");
  if (type == "VAE_Temporal_SD") {
    f.temporal = TemporalVaeConfig::Sd();
  } else if (type == "VAE_Temporal") {
    json args = temporal;
    args.erase("type");
    args.erase("from_pretrained");
    f.temporal = TemporalVaeConfig::FromJson(args, where_t);
  } else {
    throw InputError(fmt::format(
        "{}: type \"{}\" is not supported (\"VAE_Temporal_SD\", or \"VAE_Temporal\" with its "
        "constructor arguments)",
        where_t, type));
  }
  f.micro_frame_size = Count(j, "micro_frame_size", 17, where);
  f.shift = Numbers(j, "shift", 0.0, where);
  f.scale = Numbers(j, "scale", 1.0, where);
  const int64_t channels = f.temporal->embed_dim;
  for (const auto& [name, values] : {std::pair{"shift", &f.shift}, std::pair{"scale", &f.scale}}) {
    if (values->size() != 1 && static_cast<int64_t>(values->size()) != channels)
      throw InputError(fmt::format("{}: {} has {} entries for {} latent channels", where, name,
                                   values->size(), channels));
  }
  for (double s : f.scale) {
    if (s == 0) throw InputError(fmt::format("{}: scale must not be 0", where));
  }
  if (f.spatial.latent_channels != f.temporal->in_out_channels)
    throw InputError(fmt::format(
        "{}: the spatial VAE makes {}-channel latents but the temporal VAE takes {} channels",
        where, f.spatial.latent_channels, f.temporal->in_out_channels));
  return f;
}

void LoadTensors(torch::nn::Module& module, const std::string& prefix, const TensorStore& store,
                 std::vector<std::string>& problems) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    std::string key = prefix + name;
    if (!store.Has(key)) {
      std::string legacy = LegacyAttentionName(key);
      if (legacy.empty() || !store.Has(legacy)) {
        problems.push_back(key + ": missing");
        return;
      }
      key = legacy;
    }
    std::vector<int64_t> shape = store.Shape(key);
    std::vector<int64_t> expected = target.sizes().vec();
    // Old checkpoints store the attention projections as 1x1 convolutions.
    bool conv_linear = shape.size() == 4 && expected.size() == 2 && shape[0] == expected[0] &&
                       shape[1] == expected[1] && shape[2] == 1 && shape[3] == 1;
    if (shape != expected && !conv_linear) {
      problems.push_back(fmt::format("{}: {} in the file, {} expected", key, ShapeText(shape),
                                     ShapeText(expected)));
      return;
    }
    target.copy_(store.Get(key, torch::kFloat).reshape(expected));
  };
  for (auto& p : module.named_parameters()) load(p.key(), p.value());
  for (auto& b : module.named_buffers()) load(b.key(), b.value());
}

}  // namespace modelgrow::vae
