// What a VAE folder holds, read from its config.json: Open-Sora 1.2's `VideoAutoencoderPipeline`
// (hpcai-tech/OpenSora-VAE-v1.2: a spatial AutoencoderKL, a temporal VAE, shift and scale, under
// `spatial_vae.module.*`, `temporal_vae.*`, `scale`, `shift` in model.safetensors), or a plain
// diffusers `AutoencoderKL` folder (diffusion_pytorch_model.safetensors), applied frame by frame.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "autoencoder_kl.h"
#include "modelgrow/sdk/safetensors.h"
#include "temporal_vae.h"

namespace modelgrow::vae {

struct VaeFolder {
  std::filesystem::path folder;  // where config.json and the weights are
  std::filesystem::path config_file;
  bool pipeline = false;  // Open-Sora's two-stage pipeline; false: a plain AutoencoderKL
  AutoencoderKLConfig spatial;
  std::optional<TemporalVaeConfig> temporal;   // set for the pipeline
  int64_t micro_batch_size = 4;                // frames per spatial VAE call (0: all at once)
  int64_t micro_frame_size = 17;               // frames per temporal chunk (0: the whole clip)
  std::vector<double> shift{0.0}, scale{1.0};  // the pipeline's, per latent channel or one for all
  std::string weights_base;                    // "model" or "diffusion_pytorch_model"
  std::string spatial_prefix;  // "spatial_vae.module." for the pipeline, "" otherwise
  std::string temporal_prefix = "temporal_vae.";

  // Reads `path`/config.json (or `path`/vae/config.json, as in a diffusers pipeline folder).
  // InputError naming the file and the field for anything missing, malformed or unsupported.
  static VaeFolder Read(const std::filesystem::path& path);
};

// The architecture names Open-Sora's config.json may give vae_2d.from_pretrained for SDXL's VAE.
bool IsKnownSdxlVae(const std::string& name);

// Copies the folder's tensors into `module`, whose parameters and buffers are named `prefix` +
// their names in the file. Every missing and misshapen tensor is collected into `problems`
// ("<key>: missing" / "<key>: [a, b] in the file, [c, d] expected"). diffusers' legacy attention
// names (query, key, value, proj_attn; 1x1-conv shaped) are accepted for to_q, to_k, to_v,
// to_out.0.
void LoadTensors(torch::nn::Module& module, const std::string& prefix, const TensorStore& store,
                 std::vector<std::string>& problems);

}  // namespace modelgrow::vae
