// The `opensora_vae` plugin: Open-Sora 1.2's video VAE (and plain diffusers AutoencoderKL
// folders) as a VideoAutoencoder. The model code is in this folder's other files.
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/video_autoencoder.h"
#include "opensora_vae.h"

MODELGROW_VIDEO_AUTOENCODER(modelgrow::vae::OpenSoraVae, "opensora_vae", "1.0.0",
                            "Open-Sora 1.2's video VAE (spatial AutoencoderKL + causal temporal "
                            "VAE, 8x down in space, 4x in time); plain diffusers AutoencoderKL "
                            "folders frame by frame")
