#include "modelgrow/io/checkpoint.h"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/model/init_device.h"
#include "modelgrow/model/linear.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

CheckpointMeta DescribeModel(const STDiT3Impl& model) {
  CheckpointMeta meta;
  for (const auto& item : model.named_modules()) {
    auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
    if (linear != nullptr && linear->has_lora()) {
      meta.lora.push_back(
          {item.key(), linear->lora_rank(), linear->lora_alpha(), linear->lora_dropout()});
    }
  }
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) meta.frozen.push_back(item.key());
  }
  return meta;
}

namespace {

json MetaToJson(const CheckpointMeta& meta) {
  json j = {{"provenance", meta.provenance}};
  if (!meta.lora.empty()) {
    json lora = json::array();
    for (const auto& l : meta.lora) {
      lora.push_back(
          {{"module", l.module}, {"rank", l.rank}, {"alpha", l.alpha}, {"dropout", l.dropout}});
    }
    j["lora"] = lora;
  }
  if (!meta.frozen.empty()) j["frozen"] = meta.frozen;
  return j;
}

CheckpointMeta MetaFromJson(const json& j, const std::string& source) {
  CheckpointMeta meta;
  if (!j.is_object()) return meta;
  try {
    if (j.contains("provenance")) meta.provenance = j["provenance"];
    for (const auto& l : j.value("lora", json::array())) {
      meta.lora.push_back({l.at("module").get<std::string>(), l.at("rank").get<int64_t>(),
                           l.at("alpha").get<double>(), l.value("dropout", 0.0)});
    }
    meta.frozen = j.value("frozen", std::vector<std::string>{});
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: malformed 'modelgrow' section ({})", source, e.what()));
  }
  return meta;
}

std::string ListSome(const std::vector<std::string>& names) {
  constexpr size_t kShown = 12;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kShown));
  std::string text = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > kShown) text += fmt::format(" (and {} more)", names.size() - kShown);
  return text;
}

// The tensor `key` of `store` has the shape the model gives it: an InputError naming the file.
void CheckShape(const TensorStore& store, const std::string& key, const at::Tensor& tensor) {
  std::vector<int64_t> shape = store.Shape(key);
  if (shape != tensor.sizes().vec()) {
    throw InputError(fmt::format("{}: tensor '{}' has shape [{}] but the model expects [{}]",
                                 store.FileOf(key).string(), key, fmt::join(shape, ", "),
                                 fmt::join(tensor.sizes(), ", ")));
  }
}

}  // namespace

void CheckpointWriter::AddModel(const STDiT3Impl& model, const CheckpointMeta& meta,
                                const SaveOptions& options) {
  json config = model.config().ToJson();
  config["modelgrow"] = MetaToJson(meta);
  if (options.dtype) {
    config["torch_dtype"] = *options.dtype == c10::ScalarType::BFloat16 ? "bfloat16"
                            : *options.dtype == c10::ScalarType::Half   ? "float16"
                                                                        : "float32";
  }
  NameTarget([&] {
    WriteFileAtomic(staging_ / "config.json", config.dump(2) + "\n");
    WriteTensorStore(staging_, model.StateDict(), "model", options.max_shard_bytes,
                     {{"format", "pt"}}, options.dtype);
  });
}

void SaveModel(const fs::path& folder, const STDiT3Impl& model, const CheckpointMeta& meta,
               const SaveOptions& options) {
  CheckpointWriter writer(folder);
  writer.AddModel(model, meta, options);
  writer.Commit();
}

std::vector<std::string> LoadWeights(STDiT3Impl& model, const TensorStore& store,
                                     std::vector<std::string>* missing) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& [key, tensor] : model.StateDict()) {
    if (!store.Has(key)) {
      if (missing) missing->push_back(key);
      continue;
    }
    CheckShape(store, key, tensor);
    tensor.copy_(store.Get(key, tensor.scalar_type()));
    used.insert(key);
  }
  std::vector<std::string> unknown;
  for (const std::string& key : store.Keys()) {
    if (!used.count(key)) unknown.push_back(key);
  }
  return unknown;
}

LoadedModel LoadModel(const fs::path& folder, c10::Device device) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw InputError(fmt::format("{}: no such checkpoint folder", folder.string()));
  }
  fs::path config_path = folder / "config.json";
  if (!fs::exists(config_path, ec)) {
    throw InputError(
        fmt::format("{}: missing (a checkpoint folder holds config.json and "
                    "model.safetensors)",
                    config_path.string()));
  }
  json config_json;
  try {
    config_json = json::parse(ReadFile(config_path));
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON ({})", config_path.string(), e.what()));
  }
  LoadedModel loaded;
  STDiT3Config config = STDiT3Config::FromJson(config_json, config_path.string());
  loaded.meta = MetaFromJson(config_json.value("modelgrow", json::object()), config_path.string());
  TensorStore store = TensorStore::Open(folder);

  // The config is checked against the weights before memory is spent on it: built on the meta
  // device first, a model whose config.json claims more values than the folder stores (a
  // hand-edited depth, a wrong hidden_size) is refused without allocating them.
  {
    ModelInitDeviceScope meta{c10::Device(c10::DeviceType::Meta)};
    STDiT3 shape_only(config);
    std::vector<std::string> absent;
    for (const auto& [key, tensor] : shape_only->StateDict()) {
      if (!store.Has(key)) {
        // Checkpoints from other writers may leave out the rotary frequencies: they are computed.
        if (key != "rope.freqs") absent.push_back(key);
        continue;
      }
      CheckShape(store, key, tensor);
    }
    if (!absent.empty()) {
      std::set<std::string> known;
      for (const auto& item : shape_only->StateDict()) known.insert(item.first);
      std::vector<std::string> unknown;
      for (const std::string& key : store.Keys()) {
        if (!known.count(key)) unknown.push_back(key);
      }
      std::string message =
          fmt::format("{}: weights do not match the model of its config.json; missing {}: {}",
                      folder.string(), absent.size(), ListSome(absent));
      if (!unknown.empty())
        message += fmt::format("; unknown {}: {}", unknown.size(), ListSome(unknown));
      throw InputError(message);
    }
  }
  loaded.model = STDiT3(config);
  auto modules = loaded.model->named_modules();
  for (const LoraRecord& l : loaded.meta.lora) {
    auto* linear =
        modules.contains(l.module) ? dynamic_cast<LinearImpl*>(modules[l.module].get()) : nullptr;
    if (linear == nullptr) {
      throw InputError(fmt::format("{}: LoRA recorded on '{}', which is not a linear layer",
                                   config_path.string(), l.module));
    }
    linear->AddLora(l.rank, l.alpha, l.dropout);
  }
  std::vector<std::string> missing;
  std::vector<std::string> unknown = LoadWeights(*loaded.model, store, &missing);
  // Checkpoints from other writers may leave out the rotary frequencies: they are computed.
  missing.erase(std::remove(missing.begin(), missing.end(), "rope.freqs"), missing.end());
  if (!missing.empty() || !unknown.empty()) {
    std::string message =
        fmt::format("{}: weights do not match the model of its config.json", folder.string());
    if (!missing.empty())
      message += fmt::format("; missing {}: {}", missing.size(), ListSome(missing));
    if (!unknown.empty())
      message += fmt::format("; unknown {}: {}", unknown.size(), ListSome(unknown));
    throw InputError(message);
  }
  auto params = loaded.model->named_parameters();
  for (const std::string& name : loaded.meta.frozen) {
    if (!params.contains(name)) {
      throw InputError(
          fmt::format("{}: frozen parameter '{}' does not exist", config_path.string(), name));
    }
    params[name].set_requires_grad(false);
  }
  loaded.model->to(device);
  return loaded;
}

}  // namespace modelgrow
