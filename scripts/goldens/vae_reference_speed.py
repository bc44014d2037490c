"""Times the reference Open-Sora 1.2 VAE (Open-Sora v1.2.0 + diffusers v0.27.2, full size, random
weights) on the clip vae_benchmark uses: 17 frames of 240x424, encode (posterior mean) and
decode, on this machine's CPU. Same sources and stubs as make_vae_goldens.py (run
prepare_vae_reference.sh first):

    python3 .goldens-work/vae_reference_speed.py [--threads N] [--repeats R]
"""
import argparse
import importlib
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_vae_goldens as goldens  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = goldens.install_stubs()
    akl = importlib.import_module("diffusers.models.autoencoders.autoencoder_kl")
    sys.modules["diffusers.models"].AutoencoderKL = akl.AutoencoderKL
    sys.modules["diffusers.models"].AutoencoderKLTemporalDecoder = None
    vae_module = importlib.import_module("opensora.models.vae.vae")
    temporal_module = importlib.import_module("opensora.models.vae.vae_temporal")
    utils = importlib.import_module("opensora.models.vae.utils")
    dvae = importlib.import_module("diffusers.models.autoencoders.vae")
    utils.DiagonalGaussianDistribution.sample = lambda self, *a, **k: self.mean
    dvae.DiagonalGaussianDistribution.sample = lambda self, *a, **k: self.mean

    # SDXL's VAE layout (PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers/vae/config.json).
    sdxl = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                layers_per_block=2, act_fn="silu", latent_channels=4, norm_num_groups=32,
                sample_size=1024, scaling_factor=0.13025)
    spatial = akl.AutoencoderKL(**sdxl).eval()
    akl.AutoencoderKL.from_pretrained = classmethod(lambda cls, *a, **k: spatial)
    vae_module.AutoencoderKL = akl.AutoencoderKL
    models["VAE_Temporal_SD"] = temporal_module.VAE_Temporal_SD
    model = vae_module.OpenSoraVAE_V1_2(micro_batch_size=4, micro_frame_size=17).eval()

    x = torch.rand(1, 3, 17, 240, 424) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        for name, run in (("encode", lambda: model.encode(x)),
                          ("decode", lambda: model.decode(z, num_frames=17))):
            start = time.perf_counter()
            for _ in range(args.repeats):
                run()
            seconds = (time.perf_counter() - start) / args.repeats
            print(f"reference {name} 240p (17x240x424), {args.threads} threads, torch "
                  f"{torch.__version__}: {seconds:.1f} s, {17 / seconds:.2f} frames/s")


if __name__ == "__main__":
    main()
