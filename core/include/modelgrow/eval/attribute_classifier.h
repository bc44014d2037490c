// The evaluation's judge: a small 3-D CNN trained on real videos to read back what a video shows,
// one head per category of the data's LabelSchema (for the synthetic world: the main object's
// colour, shape and motion, the number of objects, their arrangement and, with several objects,
// the set of their colours). Generated videos are
// scored by whether it reads back what the prompt asked for (the analogue of the paper's
// compositional benchmark), and its pooled features define the Fréchet distance (the analogue of
// its video-quality scores).
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

#include "modelgrow/eval/evaluate_spec.h"
#include "modelgrow/model/linear.h"
#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

class AttributeClassifierImpl : public torch::nn::Module {
 public:
  AttributeClassifierImpl(const LabelSchema& schema, int64_t width);
  // video [B, 3, T, H, W] in [-1, 1] -> pooled features [B, F].
  at::Tensor Features(const at::Tensor& video);
  // Logits per category.
  std::map<std::string, at::Tensor> Heads(const at::Tensor& features);
  const LabelSchema& schema() const { return schema_; }
  int64_t width() const { return width_; }
  // For a multi-label category, each class's bit (int64 [classes]): a target's set of classes is
  // the OR of its classes' bits.
  const at::Tensor& class_bits(const std::string& category) const {
    return class_bits_.at(category);
  }

 private:
  LabelSchema schema_;
  int64_t width_;
  std::map<std::string, at::Tensor> class_bits_;
  std::vector<torch::Tensor> conv_weights_, conv_biases_;
  std::map<std::string, Linear> heads_;
};
TORCH_MODULE(AttributeClassifier);

// Trains on the pipelines' samples (their label schema and targets), or loads the result of an
// identical earlier training from `cache_dir` (classifier.safetensors + classifier.json). Shows
// progress. InputError when the data declares no label schema, or different ones.
AttributeClassifier TrainOrLoadClassifier(const std::vector<std::shared_ptr<DataPipeline>>& data,
                                          const ClassifierSpec& spec,
                                          const std::filesystem::path& cache_dir);

// A sample's targets for every category of the schema: its class index (bit set, for a
// multi-label category), or -1 where the video does not show that category.
std::map<std::string, int64_t> AllTargets(const LabelSchema& schema,
                                          const std::map<std::string, int64_t>& targets);

// Accuracy per category of `classifier` on `videos` against `targets` (class index per category;
// -1 entries are not counted), and the mean over the listed categories. A multi-label category's
// target is read right when the classes the classifier is most sure of, as many as the target
// holds, are exactly the target's.
std::map<std::string, double> Accuracy(AttributeClassifier classifier, const at::Tensor& videos,
                                       const std::vector<std::map<std::string, int64_t>>& targets,
                                       const std::vector<std::string>& categories);

}  // namespace modelgrow
