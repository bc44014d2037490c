// What an `evaluate` stage measures for one model, per domain (docs/manifests.md):
//   loss/<domain>/<kind>          held-out rectified-flow loss, fixed timesteps and noise
//   acc/<domain>/<kind>/<cat>     attribute accuracy of videos generated from held-out prompts
//   ceiling/<domain>/<cat>        the classifier's accuracy on the real held-out videos
//   fd/<domain>/<kind>            Fréchet distance, generated vs real, classifier features
// and writes animated GIFs of generated and real videos for the report's grid. <kind> is a
// prompt kind: "short", "detailed", or "rewritten" (the short caption rewritten by a generative
// model, scored on the categories the short caption states).
//
// Across ranks, the held-out loss batches and the generation batches are dealt out round-robin and
// the results gathered, so every rank returns exactly the numbers one process computes (each batch
// is computed the same way wherever it runs, and the sums are taken in the same order); rank 0
// alone writes the sample files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/dist/communicator.h"
#include "modelgrow/eval/attribute_classifier.h"
#include "modelgrow/eval/evaluate_spec.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/video_autoencoder.h"
#include "modelgrow/text/text_cache.h"

namespace modelgrow {

struct EvaluationSetup {
  std::map<std::string, std::shared_ptr<DataPipeline>> domains;  // held-out data per domain
  AttributeClassifier classifier{nullptr};
  EvaluateSpec spec;
  // The flow schedule the model was trained with (its timestep shift); sampling steps and
  // guidance come from `spec`.
  RectifiedFlowConfig flow;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  std::filesystem::path samples_dir;  // GIFs go here ("" = none)
  std::string sample_prefix;          // file name prefix of this model's GIFs
  // Rewrites short prompts (one result per prompt, in order) for the prompt kind "rewritten".
  std::function<std::vector<std::string>(const std::vector<std::string>&)> rewrite;
  // Decodes a latent model's videos for the sample files (GIFs for the report, and MP4s); null:
  // latent samples are scored but not written.
  std::shared_ptr<VideoAutoencoder> vae;
  Communicator* comm = nullptr;  // the ranks sharing the work (nullptr: this process alone)
};

// {"metrics": {...}, "samples": [{"domain", "kind", "index", "prompt", "generated", "real"}],
//  "rewrites": [{"domain", "index", "short", "rewritten"}], "notes": [...]}. Deterministic: the
// same model and setup give the same numbers.
nlohmann::json EvaluateModel(STDiT3Impl& model, const std::vector<TextEncoderCache*>& text,
                             const EvaluationSetup& setup);

}  // namespace modelgrow
