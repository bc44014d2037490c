// The evaluation's judge: a small 3-D CNN trained on real synthetic videos to read back what a
// video shows — the main object's colour, shape and motion, the number of objects, and where the
// second object is relative to the main one. Generated videos are scored by whether it reads
// back what the prompt asked for (the analogue of the paper's compositional benchmark), and its
// pooled features define the Fréchet distance (the analogue of its video-quality scores).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

#include "modelgrow/model/linear.h"
#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

// The categories scored, and their classes.
struct AttributeClasses {
  std::map<std::string, std::vector<std::string>> classes;  // category -> class names
  static AttributeClasses Synthetic();  // colour, shape, motion, count, relation of the world
  std::vector<std::string> categories() const;
  nlohmann::json ToJson() const;
  static AttributeClasses FromJson(const nlohmann::json& j);
};

// The class index per category for a sample's labels (the synthetic schema); -1 where the labels
// do not say (e.g. no second object: relation is "none", which is a class).
std::map<std::string, int64_t> TargetsFromLabels(const AttributeClasses& classes,
                                                 const nlohmann::json& labels);
// Which categories a prompt of this kind states: short prompts name only the main object.
std::vector<std::string> CategoriesInPrompt(const std::string& prompt_kind);

class AttributeClassifierImpl : public torch::nn::Module {
 public:
  AttributeClassifierImpl(const AttributeClasses& classes, int64_t width);
  // video [B, 3, T, H, W] in [-1, 1] -> pooled features [B, F].
  at::Tensor Features(const at::Tensor& video);
  // Logits per category.
  std::map<std::string, at::Tensor> Heads(const at::Tensor& features);
  const AttributeClasses& classes() const { return classes_; }
  int64_t width() const { return width_; }

 private:
  AttributeClasses classes_;
  int64_t width_;
  std::vector<torch::Tensor> conv_weights_, conv_biases_;
  std::map<std::string, Linear> heads_;
};
TORCH_MODULE(AttributeClassifier);

struct ClassifierTraining {
  int64_t steps = 300;
  int64_t batch_size = 32;
  double lr = 2e-3;
  int64_t width = 32;
  uint64_t seed = 0;
};

// Trains on the pipelines' samples (labels in the synthetic schema), or loads the result of an
// identical earlier training from `cache_dir` (classifier.safetensors + classes.json). Shows
// progress. Throws InputError when the data carries no such labels.
AttributeClassifier TrainOrLoadClassifier(const std::vector<std::shared_ptr<DataPipeline>>& data,
                                          const ClassifierTraining& training,
                                          const std::filesystem::path& cache_dir);

// Accuracy per category of `classifier` on `videos` against `targets` (class index per category;
// -1 entries are not counted), and the mean over the listed categories.
std::map<std::string, double> Accuracy(AttributeClassifier classifier, const at::Tensor& videos,
                                       const std::vector<std::map<std::string, int64_t>>& targets,
                                       const std::vector<std::string>& categories);

}  // namespace modelgrow
