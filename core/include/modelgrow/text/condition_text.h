// Where one text condition's embeddings for a batch of samples come from. In order:
//   1. embeddings the data carry (Sample::text_embeddings[name], e.g. an HDF5 shard's
//      /text/<name>) for every sample whose caption kind is the kind they encode;
//   2. an encoder keyed by sample index (SampleIndexedTextEncoder: the `precomputed` plugin with
//      key = "index"), when the samples are those of the data set it indexes (training);
//   3. the encoder, through its cache, for the rest.
// Caption dropout happens afterwards, on whatever came out (the model's null embedding replaces a
// dropped caption either way), as Open-Sora trains from precomputed T5 features.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/text_cache.h"

namespace modelgrow {

class ConditionText {
 public:
  // `stored`: what the data say about the embeddings they carry (DataPipeline::stored_text()).
  // `by_sample_index`: the samples' indices are those of the set an index-keyed encoder reads.
  // InputError when stored embeddings of this name were made by another encoder, or have
  // another shape than the encoder's output.
  ConditionText(std::string name, TextEncoderCache* cache,
                const std::map<std::string, StoredTextInfo>& stored, bool by_sample_index);

  // Embeddings [B, L, D] and masks [B, L] of the samples, whose captions are `prompts` of the
  // caption `kinds`; `carried` is what the batch carries (its text_embeddings, stacked).
  TextEncoding Get(const std::vector<std::string>& prompts, const std::vector<std::string>& kinds,
                   const std::vector<int64_t>& indices,
                   const std::map<std::string, TextEncoding>& carried) const;

  // The model's name for this condition ("t5", "llm"): what manifests call it.
  const std::string& name() const { return name_; }
  // The caption kind stored embeddings encode; nullopt when the data carry none usable.
  const std::optional<std::string>& stored_caption() const { return stored_caption_; }
  bool by_sample_index() const { return sample_indexed_ != nullptr; }

 private:
  std::string name_;
  TextEncoderCache* cache_;
  std::optional<std::string> stored_caption_;
  SampleIndexedTextEncoder* sample_indexed_ = nullptr;
};

}  // namespace modelgrow
