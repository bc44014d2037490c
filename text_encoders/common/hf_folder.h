// Reading a Hugging Face model folder for the text models: config.json fields with messages that
// name the file and the key, and weights checked against the shapes the config implies. (Cache
// keys fingerprint a folder with FolderFingerprint from modelgrow/sdk/content_hash.h.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

class HfConfig {
 public:
  // Reads folder/config.json. InputError when the folder, the file or its JSON is bad.
  static HfConfig Read(const std::filesystem::path& folder);
  HfConfig(nlohmann::json json, std::filesystem::path file);

  const nlohmann::json& json() const { return json_; }
  const std::filesystem::path& file() const { return file_; }
  std::string model_type() const;  // "" when absent

  bool Has(const std::string& key) const;  // present and not null
  // Required, > 0, and at most limits::kMaxLayers (keys naming layers), kMaxVocabulary
  // (vocab_size) or kMaxWidth (any other size).
  int64_t Int(const std::string& key) const;
  int64_t Int(const std::string& key, int64_t fallback) const;
  double Double(const std::string& key) const;
  double Double(const std::string& key, double fallback) const;
  bool Bool(const std::string& key, bool fallback) const;
  std::string String(const std::string& key, const std::string& fallback) const;
  // InputError naming the file when a model of about `estimate` parameters is too large to build
  // (limits::kMaxParameters).
  void CheckParameters(double estimate) const;
  // An InputError "<file>: <key>: <message>".
  [[noreturn]] void Fail(const std::string& key, const std::string& message) const;

 private:
  nlohmann::json json_;
  std::filesystem::path file_;
};

// Weights of a model folder, fetched by name with their expected shapes checked. Every missing or
// misshapen tensor is collected; ThrowIfProblems() reports them all at once.
class WeightReader {
 public:
  WeightReader(const std::filesystem::path& folder, c10::ScalarType dtype);
  const TensorStore& store() const { return store_; }
  bool Has(const std::string& key) const { return store_.Has(key); }
  // The tensor, converted to `dtype`; an undefined tensor (and a recorded problem) when it is
  // missing or its shape is not `shape`.
  at::Tensor Get(const std::string& key, const std::vector<int64_t>& shape);
  void ThrowIfProblems() const;

 private:
  std::filesystem::path folder_;
  c10::ScalarType dtype_;
  TensorStore store_;
  std::vector<std::string> missing_, misshapen_;
};

// Copies `value` into `target` (a registered parameter) without recording autograd history.
void AssignParameter(at::Tensor& target, const at::Tensor& value);

}  // namespace modelgrow
