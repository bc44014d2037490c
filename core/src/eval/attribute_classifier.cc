#include "modelgrow/eval/attribute_classifier.h"

#include <bit>
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/init.h>
#include <torch/optim/adam.h>
#include <torch/torch.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::map<std::string, int64_t> AllTargets(const LabelSchema& schema,
                                          const std::map<std::string, int64_t>& targets) {
  std::map<std::string, int64_t> all;
  for (const auto& [category, names] : schema.classes) {
    auto it = targets.find(category);
    const bool valid = it != targets.end() && schema.IsValidTarget(category, it->second);
    all[category] = valid ? it->second : -1;
  }
  return all;
}

namespace {

// The classifier's reading of a multi-label category: the classes it is most sure of, as many as
// the target has (so it is not judged on a threshold it was never calibrated for).
int64_t TopSet(const at::Tensor& logits, int64_t size, const at::Tensor& class_bits) {
  at::Tensor top = std::get<1>(logits.topk(size));
  return class_bits.index_select(0, top).sum().item<int64_t>();
}

}  // namespace

AttributeClassifierImpl::AttributeClassifierImpl(const LabelSchema& schema, int64_t width)
    : schema_(schema), width_(width) {
  // Two coordinate channels let pooled features say where a colour is (CoordConv), which the
  // relation category needs.
  const int64_t channels[] = {5, width, 2 * width, 4 * width};
  for (int i = 0; i < 3; ++i) {
    at::Tensor w = at::empty({channels[i + 1], channels[i], 3, 3, 3});
    torch::nn::init::kaiming_normal_(w, 0, torch::kFanIn, torch::kReLU);
    conv_weights_.push_back(register_parameter(fmt::format("conv{}_w", i), w));
    conv_biases_.push_back(
        register_parameter(fmt::format("conv{}_b", i), at::zeros({channels[i + 1]})));
  }
  const int64_t features = 4 * width * 4;  // 2x2 spatial grid
  for (const auto& [category, names] : schema_.classes) {
    heads_.emplace(category, register_module("head_" + category,
                                             Linear(features, static_cast<int64_t>(names.size()))));
    if (!schema_.IsMultiLabel(category)) continue;
    std::vector<int64_t> bits(names.size());
    for (size_t k = 0; k < bits.size(); ++k) bits[k] = int64_t{1} << k;
    class_bits_[category] = at::tensor(bits);
  }
}

at::Tensor AttributeClassifierImpl::Features(const at::Tensor& video) {
  const int64_t b = video.size(0), t = video.size(2), h = video.size(3), w = video.size(4);
  at::Tensor ys =
      at::linspace(-1, 1, h, video.options()).view({1, 1, 1, h, 1}).expand({b, 1, t, h, w});
  at::Tensor xs =
      at::linspace(-1, 1, w, video.options()).view({1, 1, 1, 1, w}).expand({b, 1, t, h, w});
  at::Tensor x = at::cat({video, xs, ys}, 1);
  for (size_t i = 0; i < conv_weights_.size(); ++i) {
    x = at::gelu(at::conv3d(x, conv_weights_[i], conv_biases_[i], 1, 1));
    if (i == 0) x = at::avg_pool3d(x, {1, 2, 2}, {1, 2, 2}, 0, /*ceil_mode=*/true);
    if (i == 1) x = at::avg_pool3d(x, {2, 2, 2}, {2, 2, 2}, 0, /*ceil_mode=*/true);
  }
  return at::adaptive_avg_pool3d(x, {1, 2, 2}).flatten(1);
}

std::map<std::string, at::Tensor> AttributeClassifierImpl::Heads(const at::Tensor& features) {
  std::map<std::string, at::Tensor> out;
  for (auto& [category, head] : heads_) out[category] = head(features);
  return out;
}

namespace {

std::string TrainingKey(const std::vector<std::shared_ptr<DataPipeline>>& data,
                        const LabelSchema& schema, const ClassifierSpec& spec) {
  ContentHash key("attribute-classifier/3");
  key.Add("steps", spec.steps)
      .Add("batch_size", spec.batch_size)
      .Add("lr", fmt::format("{}", spec.lr))
      .Add("width", spec.width)
      .Add("seed", static_cast<int64_t>(spec.seed))
      .Add("schema", schema.ToJson().dump());
  for (const auto& d : data) key.Add("data", d->CacheKey());
  return key.Hex();
}

// The one schema every training pipeline declares.
LabelSchema CommonSchema(const std::vector<std::shared_ptr<DataPipeline>>& data) {
  std::optional<LabelSchema> schema;
  for (const auto& d : data) {
    std::optional<LabelSchema> own = d->label_schema();
    if (!own) {
      throw InputError(
          "the attribute classifier's data declares no label schema (its pipeline has no "
          "labels to learn from)");
    }
    if (schema && !(*schema == *own)) {
      throw InputError(
          "the attribute classifier's data pipelines declare different label schemas; train it "
          "on data with one schema");
    }
    schema = own;
  }
  if (!schema) throw InputError("the attribute classifier needs at least one data pipeline");
  return *schema;
}

}  // namespace

AttributeClassifier TrainOrLoadClassifier(const std::vector<std::shared_ptr<DataPipeline>>& data,
                                          const ClassifierSpec& training,
                                          const fs::path& cache_dir) {
  const LabelSchema schema = CommonSchema(data);
  const std::string key = TrainingKey(data, schema, training);
  const fs::path weights = cache_dir / "classifier.safetensors";
  const fs::path meta = cache_dir / "classifier.json";
  std::error_code ec;
  if (fs::exists(weights, ec) && fs::exists(meta, ec)) {
    json j = json::parse(ReadFile(meta));
    if (j.value("key", "") == key) {
      AttributeClassifier classifier(LabelSchema::FromJson(j["schema"]), j["width"].get<int64_t>());
      SafetensorsFile f = SafetensorsFile::Open(weights);
      torch::NoGradGuard no_grad;
      for (auto& item : classifier->named_parameters())
        item.value().copy_(f.Get(item.key(), at::kFloat));
      classifier->eval();
      return classifier;
    }
  }

  torch::manual_seed(training.seed);
  AttributeClassifier classifier(schema, training.width);
  torch::optim::Adam opt(classifier->parameters(), torch::optim::AdamOptions(training.lr));
  std::vector<std::unique_ptr<DataLoader>> loaders;
  for (size_t i = 0; i < data.size(); ++i) {
    LoaderOptions o;
    o.batch_size = training.batch_size;
    o.seed = training.seed + i;
    o.workers = 1;
    loaders.push_back(std::make_unique<DataLoader>(data[i], o));
  }
  Progress progress("attribute classifier", training.steps);
  double last_loss = 0;
  for (int64_t step = 0; step < training.steps; ++step) {
    Batch batch = loaders[step % loaders.size()]->Next();
    std::map<std::string, std::vector<int64_t>> targets;
    for (const auto& sample_targets : batch.targets) {
      for (const auto& [category, index] : AllTargets(schema, sample_targets)) {
        targets[category].push_back(index);
      }
    }
    auto logits = classifier->Heads(classifier->Features(batch.video.to(at::kFloat)));
    at::Tensor loss = at::zeros({});
    for (auto& [category, l] : logits) {
      const std::vector<int64_t>& wanted = targets[category];
      // A batch without a single target of this category would make its mean loss NaN.
      if (std::all_of(wanted.begin(), wanted.end(), [](int64_t t) { return t < 0; })) continue;
      at::Tensor target = at::tensor(wanted);
      if (schema.IsMultiLabel(category)) {
        // One yes/no per class, on the samples that show the category.
        at::Tensor rows = target.ge(0).nonzero().squeeze(1);
        at::Tensor present = target.index_select(0, rows)
                                 .unsqueeze(1)
                                 .bitwise_and(classifier->class_bits(category))
                                 .ne(0);
        loss = loss + at::binary_cross_entropy_with_logits(l.index_select(0, rows),
                                                           present.to(at::kFloat));
        continue;
      }
      loss = loss + at::cross_entropy_loss(l, target, {}, at::Reduction::Mean, /*ignore_index=*/-1);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    last_loss = loss.item<double>();
    progress.Update(step + 1, fmt::format("loss {:.3f}", last_loss));
  }
  progress.Finish(fmt::format("loss {:.3f}", last_loss));
  classifier->eval();

  fs::create_directories(cache_dir);
  NamedTensors tensors;
  for (const auto& item : classifier->named_parameters())
    tensors.emplace_back(item.key(), item.value());
  WriteSafetensors(weights, tensors);
  WriteFileAtomic(meta, json{{"key", key},
                             {"schema", schema.ToJson()},
                             {"width", training.width},
                             {"final_loss", last_loss},
                             {"steps", training.steps}}
                            .dump(2));
  return classifier;
}

std::map<std::string, double> Accuracy(AttributeClassifier classifier, const at::Tensor& videos,
                                       const std::vector<std::map<std::string, int64_t>>& targets,
                                       const std::vector<std::string>& categories) {
  torch::NoGradGuard no_grad;
  std::map<std::string, int64_t> right, counted;
  const int64_t n = videos.size(0);
  for (int64_t start = 0; start < n; start += 32) {
    int64_t end = std::min(n, start + 32);
    auto logits =
        classifier->Heads(classifier->Features(videos.slice(0, start, end).to(at::kFloat)));
    for (const std::string& category : categories) {
      const at::Tensor& l = logits.at(category);
      const bool multi_label = classifier->schema().IsMultiLabel(category);
      at::Tensor predicted = l.argmax(1);
      for (int64_t i = start; i < end; ++i) {
        int64_t target = targets[i].at(category);
        if (target < 0) continue;
        ++counted[category];
        const int64_t read =
            multi_label ? TopSet(l[i - start], std::popcount(static_cast<uint64_t>(target)),
                                 classifier->class_bits(category))
                        : predicted[i - start].item<int64_t>();
        if (read == target) ++right[category];
      }
    }
  }
  std::map<std::string, double> out;
  double sum = 0;
  int used = 0;
  for (const std::string& category : categories) {
    if (counted[category] == 0) continue;
    out[category] = static_cast<double>(right[category]) / static_cast<double>(counted[category]);
    sum += out[category];
    ++used;
  }
  if (used > 0) out["mean"] = sum / used;
  return out;
}

}  // namespace modelgrow
