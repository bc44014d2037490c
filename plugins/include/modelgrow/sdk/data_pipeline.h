// The data-pipeline interface: a deterministic, indexable source of video samples. The host's
// loader does batching, shuffling, bucketing, prefetching and resuming on top of it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

// Thrown by Get() for a sample that cannot be used (a corrupt video, too few frames) when the
// pipeline is configured to skip such samples: the loader counts it and takes the next one.
class SkipSample : public InputError {
 public:
  using InputError::InputError;
};

// What a labelled data set's videos show, for evaluation: an attribute classifier learns to read
// each category back from real videos, and videos generated from a caption are scored on the
// categories that caption states. A pipeline without labels declares none.
struct LabelSchema {
  // Category -> its class names; a sample's targets index into these lists.
  std::map<std::string, std::vector<std::string>> classes;
  // Caption kind ("short", "detailed") -> the categories a caption of that kind states.
  std::map<std::string, std::vector<std::string>> stated_by;
  // Categories whose target is a set of classes, not one (the colours of several objects, where a
  // video does not show which object a caption names first): bit k of the target says class k is
  // in the set, so such a category has at most kMaxMultiLabelClasses classes.
  std::set<std::string> multi_label;

  static constexpr size_t kMaxMultiLabelClasses = 62;

  bool IsMultiLabel(const std::string& category) const { return multi_label.count(category) > 0; }
  // Whether `value` is a target of `category`: a class index, or for a multi-label category a
  // non-empty set of its classes. False for a category the schema lacks.
  bool IsValidTarget(const std::string& category, int64_t value) const;
  // What IsValidTarget accepts for `category`, in words, for error messages.
  std::string DescribeTargets(const std::string& category) const;

  nlohmann::json ToJson() const;
  static LabelSchema FromJson(const nlohmann::json& j);
  bool operator==(const LabelSchema&) const = default;
};

// What made the text embeddings a pipeline's samples carry under one name
// (Sample::text_embeddings[name]), so that a host can use them instead of encoding the caption.
struct StoredTextInfo {
  std::string caption;      // the caption kind they encode ("short", "detailed")
  std::string encoder_key;  // the CacheKey() of the encoder that made them ("": not recorded)
  int64_t length = 0;       // L
  int64_t dim = 0;          // D
};

struct Sample {
  at::Tensor video;  // [C, T, H, W] float32: pixels in [-1, 1], or latents
  // Captions by kind: "short" always; "detailed" where the source has one.
  std::map<std::string, std::string> captions;
  double fps = 24;
  int64_t height = 0;  // pixel size of the video (for latents: of the decoded video)
  int64_t width = 0;
  int64_t index = 0;      // index in the pipeline
  nlohmann::json labels;  // ground truth in the source's own form (for people and exports)
  // Class index per category of the pipeline's LabelSchema (a bit set of classes for its
  // multi-label categories), for the categories this video shows (a category the video does not
  // show, e.g. which of two objects is "the main one", is absent).
  std::map<std::string, int64_t> targets;
  // Text embeddings that came with the data (e.g. an HDF5 shard), by encoder name.
  std::map<std::string, TextEncoding> text_embeddings;
};

class DataPipeline {
 public:
  virtual ~DataPipeline() = default;
  // The heavy part: opens files, reads indexes. InputError naming the file for anything missing
  // or malformed. The methods below are called only after Open().
  virtual void Open() = 0;
  virtual int64_t size() const = 0;
  // Sample `index` (0 <= index < size()). Must be safe to call from several threads at once and
  // return the same sample every time. Throws InputError for unusable data it cannot skip.
  virtual Sample Get(int64_t index) = 0;
  // Identifies what the pipeline reads beyond its options (files' fingerprints), built with
  // ContentHash; the host keys caches on the options' canonical TOML plus this.
  virtual std::string CacheKey() const = 0;
  // Whether samples are latents (true) or pixels in [-1, 1] (false).
  virtual bool latent() const { return false; }
  // The labels this pipeline's samples carry as targets; nullopt: none.
  virtual std::optional<LabelSchema> label_schema() const { return std::nullopt; }
  // The text embeddings every sample carries, by name, and what made them; empty (the default)
  // when samples carry none. Training and evaluation read a condition's embeddings from here
  // instead of calling its encoder when the name, the caption kind and the encoder match.
  virtual std::map<std::string, StoredTextInfo> stored_text() const { return {}; }
  // Counts worth reporting at the end of a run (skipped files, ...).
  virtual nlohmann::json Summary() const { return nlohmann::json::object(); }
  // The [C, T, H, W] shape Get(index).video will have, known without decoding, so the loader can
  // bucket samples of different shapes. nullopt (the default): every sample has the same shape.
  // Must be cheap: the loader asks for every index once.
  virtual std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const {
    (void)index;
    return std::nullopt;
  }
};

}  // namespace modelgrow
