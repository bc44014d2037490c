"""Makes the VAE parity goldens by running the reference code on random weights at small widths.

- Open-Sora v1.2.0's opensora/models/vae/{vae.py, vae_temporal.py, utils.py}
  (VideoAutoencoderPipeline, VideoAutoencoderKL, VAE_Temporal, DiagonalGaussianDistribution),
- diffusers v0.27.2's AutoencoderKL and the modules it computes with (autoencoders/vae.py,
  unets/unet_2d_blocks.py, resnet.py, attention_processor.py, downsampling.py, upsampling.py,
  activations.py, normalization.py), and einops 0.8.0,

put into ref/ beside this script by prepare_vae_reference.sh (not committed). Only imports that
compute nothing are replaced: registries, config and hub-loading base classes, logging and
deprecation helpers, and classes these files import but this VAE never builds (transformer
blocks, LoRA layers, IP-adapter masks). Runs on Debian's python3-torch (1.13), one thread:

    python3 make_vae_goldens.py REPO_ROOT

Writes (small: widths 4-16, frames of 16x24 pixels):
  datasets/opensora_vae/testdata/opensora_vae_tiny/    config.json + model.safetensors, in the
      layout of hpcai-tech/OpenSora-VAE-v1.2 (spatial_vae.module.*, temporal_vae.*, scale, shift);
      config.json gives the widths (vae_2d.autoencoder_kl, vae_temporal of type VAE_Temporal)
  datasets/opensora_vae/testdata/autoencoder_kl_tiny/  a plain diffusers AutoencoderKL folder
  tests/fixtures/reference/opensora_vae_io.safetensors inputs and outputs, mean and sampled paths
"""
import dataclasses
import importlib
import json
import logging
import os
import struct
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "ref")
sys.path.insert(0, REF)


def module(name, path=None, **attrs):
    m = types.ModuleType(name)
    if path is not None:
        m.__path__ = [path]
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def install_stubs():
    """Stand-ins for the imports that take no part in the computation."""
    # diffusers: packages whose real files are in ref/, and stubs for everything around them.
    module("diffusers", os.path.join(REF, "diffusers"))
    module("diffusers.models", os.path.join(REF, "diffusers", "models"))
    module("diffusers.models.autoencoders", os.path.join(REF, "diffusers", "models", "autoencoders"))
    module("diffusers.models.unets", os.path.join(REF, "diffusers", "models", "unets"))

    class BaseOutput:
        pass

    def is_torch_version(op, version):
        import operator
        ops = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le, "==": operator.eq}
        parse = lambda v: tuple(int(x) for x in v.split("+")[0].split("a")[0].split(".")[:3])
        return ops[op](parse(torch.__version__), parse(version))

    module("diffusers.utils", deprecate=lambda *a, **k: None,
           logging=types.SimpleNamespace(get_logger=logging.getLogger),
           is_torch_version=is_torch_version, BaseOutput=BaseOutput)

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        # diffusers' helper for CPU tensors: torch.randn on the CPU, then to the device.
        return torch.randn(shape, generator=generator, device="cpu", dtype=dtype).to(device)

    module("diffusers.utils.torch_utils", randn_tensor=randn_tensor, apply_freeu=None,
           maybe_allow_in_graph=lambda cls: cls)
    module("diffusers.utils.import_utils", is_xformers_available=lambda: False)
    module("diffusers.utils.accelerate_utils", apply_forward_hook=lambda f: f)
    module("diffusers.image_processor", IPAdapterMaskProcessor=object)
    module("diffusers.models.lora", LoRALinearLayer=None)
    module("diffusers.models.embeddings", CombinedTimestepLabelEmbeddings=None,
           PixArtAlphaCombinedTimestepSizeEmbeddings=None)
    module("diffusers.models.transformers")
    module("diffusers.models.transformers.transformer_2d", Transformer2DModel=None)
    module("diffusers.models.transformers.dual_transformer_2d", DualTransformer2DModel=None)

    def register_to_config(init):
        # Records the constructor's arguments (with defaults) as `self.config` before it runs,
        # as diffusers' decorator does.
        import inspect
        signature = inspect.signature(init)

        def wrapped(self, *args, **kwargs):
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            config = dict(bound.arguments)
            config.pop("self")
            object.__setattr__(self, "config", types.SimpleNamespace(**config))
            init(self, *args, **kwargs)
        return wrapped

    module("diffusers.configuration_utils", ConfigMixin=type("ConfigMixin", (), {}),
           register_to_config=register_to_config)
    module("diffusers.loaders", FromOriginalVAEMixin=type("FromOriginalVAEMixin", (), {}))
    module("diffusers.models.modeling_utils", ModelMixin=torch.nn.Module)

    @dataclasses.dataclass
    class AutoencoderKLOutput(BaseOutput):
        latent_dist: object

    module("diffusers.models.modeling_outputs", AutoencoderKLOutput=AutoencoderKLOutput)

    # Open-Sora: the registry, checkpoint loading (unused), and transformers' base classes, which
    # only hold the config here.
    class Registry(dict):
        def register_module(self, name=None):
            def register(f):
                self[name or f.__name__] = f
                return f
            return register

    models = Registry()

    def build_module(cfg, registry):
        cfg = dict(cfg)
        return registry[cfg.pop("type")](**cfg)

    module("opensora", os.path.join(REF, "opensora"))
    module("opensora.models", os.path.join(REF, "opensora", "models"))
    module("opensora.models.vae", os.path.join(REF, "opensora", "models", "vae"))
    module("opensora.registry", MODELS=models, build_module=build_module)
    module("opensora.utils")
    module("opensora.utils.ckpt_utils", load_checkpoint=None)

    class PretrainedConfig:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class PreTrainedModel(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config

    module("transformers", PretrainedConfig=PretrainedConfig, PreTrainedModel=PreTrainedModel)
    return models


def save_safetensors(path, tensors, metadata=None):
    """safetensors' layout (8-byte header length, JSON header, raw little-endian data)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def perturb(model, seed):
    # Default init leaves every GroupNorm at weight 1, bias 0; a nudge to every parameter makes
    # the goldens exercise each tensor (and each GroupNorm's affine part).
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


SPATIAL = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
               up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 16, 16, 16),
               layers_per_block=2, act_fn="silu", latent_channels=4, norm_num_groups=4,
               sample_size=32, scaling_factor=0.5)
TEMPORAL = dict(in_out_channels=4, latent_embed_dim=4, embed_dim=4, filters=4, num_res_blocks=2,
                channel_multipliers=(1, 2, 2, 4), temporal_downsample=(False, True, True),
                num_groups=2)
SHIFT = (-0.10, 0.34, 0.27, 0.98)
SCALE = (3.85, 2.32, 2.33, 3.06)
H, W = 16, 24


def main(root):
    torch.set_num_threads(1)
    models = install_stubs()
    akl = importlib.import_module("diffusers.models.autoencoders.autoencoder_kl")
    # What Open-Sora's vae.py imports from diffusers.models (the temporal decoder is never built).
    sys.modules["diffusers.models"].AutoencoderKL = akl.AutoencoderKL
    sys.modules["diffusers.models"].AutoencoderKLTemporalDecoder = None
    vae_module = importlib.import_module("opensora.models.vae.vae")
    temporal_module = importlib.import_module("opensora.models.vae.vae_temporal")
    os_utils = importlib.import_module("opensora.models.vae.utils")
    dvae = importlib.import_module("diffusers.models.autoencoders.vae")

    torch.manual_seed(0)
    spatial = akl.AutoencoderKL(**SPATIAL)
    perturb(spatial, 1)
    spatial.eval()
    # VideoAutoencoderKL loads its AutoencoderKL from the hub; hand it ours instead.
    akl.AutoencoderKL.from_pretrained = classmethod(lambda cls, *a, **k: spatial)
    vae_module.AutoencoderKL = akl.AutoencoderKL
    models["VAE_Temporal"] = temporal_module.VAE_Temporal
    config = vae_module.VideoAutoencoderPipelineConfig(
        vae_2d=dict(type="VideoAutoencoderKL", from_pretrained="(tiny)", micro_batch_size=2),
        vae_temporal=dict(type="VAE_Temporal", **TEMPORAL),
        micro_frame_size=17, shift=SHIFT, scale=SCALE)
    torch.manual_seed(2)
    pipeline = vae_module.VideoAutoencoderPipeline(config)
    perturb(pipeline.temporal_vae, 3)
    pipeline.eval()

    # Folders, in the layouts the loader reads.
    testdata = os.path.join(root, "datasets", "opensora_vae", "testdata")
    folder = os.path.join(testdata, "opensora_vae_tiny")
    state = {k: v for k, v in pipeline.state_dict().items()}
    save_safetensors(os.path.join(folder, "model.safetensors"), state, {"format": "pt"})
    spatial_json = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.27.2",
                    **{k: list(v) if isinstance(v, tuple) else v for k, v in SPATIAL.items()}}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({
            "architectures": ["VideoAutoencoderPipeline"],
            "model_type": "VideoAutoencoderPipeline",
            "cal_loss": False, "freeze_vae_2d": False, "from_pretrained": None,
            "micro_frame_size": 17, "shift": list(SHIFT), "scale": list(SCALE),
            "torch_dtype": "float32",
            "vae_2d": {"type": "VideoAutoencoderKL", "from_pretrained": None,
                       "micro_batch_size": 2, "autoencoder_kl": spatial_json},
            "vae_temporal": {"type": "VAE_Temporal", "from_pretrained": None,
                             **{k: list(v) if isinstance(v, tuple) else v for k, v in TEMPORAL.items()}},
        }, f, indent=2)
        f.write("\n")
    kl_folder = os.path.join(testdata, "autoencoder_kl_tiny")
    save_safetensors(os.path.join(kl_folder, "diffusion_pytorch_model.safetensors"),
                     spatial.state_dict(), {"format": "pt"})
    with open(os.path.join(kl_folder, "config.json"), "w") as f:
        json.dump(spatial_json, f, indent=2)
        f.write("\n")

    # Mean path: .sample() returns the mean in both stages.
    sample_os, sample_d = os_utils.DiagonalGaussianDistribution.sample, dvae.DiagonalGaussianDistribution.sample
    os_utils.DiagonalGaussianDistribution.sample = lambda self, *a, **k: self.mean
    dvae.DiagonalGaussianDistribution.sample = lambda self, *a, **k: self.mean

    g = torch.Generator().manual_seed(4)
    io = {}
    with torch.no_grad():
        x = torch.rand(1, 3, 5, H, W, generator=g) * 2 - 1
        io["spatial.x"] = x
        io["spatial.z"] = pipeline.spatial_vae.encode(x)
        z_in = torch.randn(1, 4, 5, H // 8, W // 8, generator=g)
        io["spatial.z_in"] = z_in
        io["spatial.decoded"] = pipeline.spatial_vae.decode(z_in)
        for t in (17, 10, 8, 1):
            x = torch.randn(1, 4, t, H // 8, W // 8, generator=g)
            io[f"temporal.{t}.x"] = x
            io[f"temporal.{t}.z"] = pipeline.temporal_vae.encode(x).sample()
            z_in = torch.randn(1, 4, (t + 3) // 4, H // 8, W // 8, generator=g)
            io[f"temporal.{t}.z_in"] = z_in
            io[f"temporal.{t}.decoded"] = pipeline.temporal_vae.decode(z_in, num_frames=t)
        for t, b in ((17, 1), (24, 2), (34, 1), (1, 1)):
            x = torch.rand(b, 3, t, H, W, generator=g) * 2 - 1
            io[f"pipeline.{t}.x"] = x
            z = pipeline.encode(x)
            io[f"pipeline.{t}.z"] = z
            io[f"pipeline.{t}.decoded"] = pipeline.decode(z, num_frames=t)
        x = torch.rand(1, 3, 3, H, W, generator=g) * 2 - 1
        frames = x.permute(0, 2, 1, 3, 4).reshape(3, 3, H, W)
        io["kl.x"] = x
        io["kl.z"] = (spatial.encode(frames).latent_dist.sample() * SPATIAL["scaling_factor"]) \
            .reshape(1, 3, 4, H // 8, W // 8).permute(0, 2, 1, 3, 4)
        io["kl.decoded"] = spatial.decode(io["kl.z"].permute(0, 2, 1, 3, 4)
                                          .reshape(3, 4, H // 8, W // 8) / SPATIAL["scaling_factor"]).sample \
            .reshape(1, 3, 3, H, W).permute(0, 2, 1, 3, 4)

        # Sampled path: the reference's own .sample(); every torch.randn it draws is recorded.
        os_utils.DiagonalGaussianDistribution.sample = sample_os
        dvae.DiagonalGaussianDistribution.sample = sample_d
        drawn = []
        real_randn = torch.randn

        def recording_randn(*args, **kwargs):
            out = real_randn(*args, **kwargs)
            drawn.append(out)
            return out

        torch.randn = recording_randn
        torch.manual_seed(5)
        x = io["pipeline.24.x"]
        io["sampled.24.z"] = pipeline.encode(x)
        torch.randn = real_randn
        # Spatial draws come first (one per micro-batch of 2 frames: 2 x 24 frames -> 24), then
        # one temporal draw per chunk of 17 frames.
        spatial_draws = (x.shape[0] * x.shape[2] + 1) // 2
        for i, n in enumerate(drawn):
            stage, k = ("spatial", i) if i < spatial_draws else ("temporal", i - spatial_draws)
            io[f"sampled.24.noise.{stage}.{k}"] = n
    save_safetensors(os.path.join(root, "tests", "fixtures", "reference", "opensora_vae_io.safetensors"),
                     io, {"torch": torch.__version__, "threads": "1"})
    print(f"wrote {folder}, {kl_folder} and {len(io)} golden tensors "
          f"({len(drawn)} noise draws) with torch {torch.__version__}")


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..")))
