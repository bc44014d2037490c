"""Makes the golden files the parity tests compare against, by running the reference code.

- STDiT3: Open-Sora v1.2.0's own stdit3.py/blocks.py (put beside this script by
  prepare_reference.sh; not committed), with rotary_embedding_torch 0.5.3. Only the imports the
  model does not compute with are replaced (registries, sequence parallelism, HF base classes);
  xformers' block-diagonal attention is replaced by the same computation written out.
- T5 / Llama / Qwen2: Hugging Face transformers' T5EncoderModel, LlamaModel and Qwen2Model,
  saved with save_pretrained (safetensors), exactly as a user's model folder would be.

Run on a machine with PyTorch, timm, einops, safetensors and transformers:
    python3 make_goldens.py OUT_DIR
"""
import contextlib
import json
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "ref"))


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def install_stubs():
    """Stand-ins for imports that do not take part in the computation."""

    class Registry:
        def register_module(self, name=None):
            return lambda f: f

    # opensora/ itself is a namespace package from ref/ holding only the two model files.
    module("opensora.registry", MODELS=Registry(), SCHEDULERS=Registry())
    module("opensora.acceleration")
    module("opensora.acceleration.checkpoint", auto_grad_checkpoint=lambda m, *a, **k: m(*a, **k))
    unused = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("sequence parallelism is not used"))
    module("opensora.acceleration.communications", gather_forward_split_backward=unused,
           split_forward_gather_backward=unused, all_to_all=unused)
    module("opensora.acceleration.parallel_states", get_sequence_parallel_group=lambda: None)
    module("opensora.utils")
    module("opensora.utils.ckpt_utils", load_checkpoint=unused)

    class BlockDiagonalMask:
        def __init__(self, q_seqlen, kv_seqlen):
            self.q_seqlen, self.kv_seqlen = list(q_seqlen), list(kv_seqlen)

        @staticmethod
        def from_seqlens(q_seqlen, kv_seqlen=None):
            return BlockDiagonalMask(q_seqlen, kv_seqlen if kv_seqlen is not None else q_seqlen)

    def memory_efficient_attention(q, k, v, p=0.0, attn_bias=None):
        # q: [1, Nq, H, D]; k, v: [1, Nk, H, D]; per block softmax(q k^T / sqrt(D)) v.
        scale = q.shape[-1] ** -0.5
        if attn_bias is None:
            blocks = [(q.shape[1], k.shape[1])]
        else:
            blocks = list(zip(attn_bias.q_seqlen, attn_bias.kv_seqlen))
        outs, qi, ki = [], 0, 0
        for nq, nk in blocks:
            qb = q[:, qi:qi + nq].transpose(1, 2)
            kb = k[:, ki:ki + nk].transpose(1, 2)
            vb = v[:, ki:ki + nk].transpose(1, 2)
            attn = (qb * scale) @ kb.transpose(-2, -1)
            outs.append((attn.float().softmax(-1).to(qb.dtype) @ vb).transpose(1, 2))
            qi, ki = qi + nq, ki + nk
        return torch.cat(outs, dim=1)

    fmha = module("xformers.ops.fmha", BlockDiagonalMask=BlockDiagonalMask)
    ops = module("xformers.ops", fmha=fmha, memory_efficient_attention=memory_efficient_attention)
    module("xformers", ops=ops)

    # rotary_embedding_torch 0.5.3 type-checks with beartype; the checks do not compute anything.
    import typing
    module("beartype", beartype=lambda f: f)
    module("beartype.typing", Literal=typing.Literal, Union=typing.Union, Optional=typing.Optional)
    import torch.cuda.amp as amp
    if not hasattr(amp, "autocast"):
        amp.autocast = lambda enabled=True: contextlib.nullcontext()

    # The HF base classes only hold the config here; saving is done below with safetensors.
    class PretrainedConfig:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class PreTrainedModel(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config

    import transformers  # noqa: F401  (the real package must exist for the encoder goldens)
    real = sys.modules["transformers"]
    shim = module("opensora_transformers_shim", PretrainedConfig=PretrainedConfig,
                  PreTrainedModel=PreTrainedModel)
    return real, shim


def save(path, tensors):
    from safetensors.torch import save_file
    save_file({k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}, path)


def perturb(model, seed):
    # Reference init zeroes the temporal blocks' outputs and the fps embedder's last layer; a
    # golden made from that would never exercise them. Every parameter gets a random nudge.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "rope.freqs":
                continue
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def make_stdit3(out_dir, name, cfg, x_shape, with_masks, seed):
    real_transformers, shim = sys.modules["transformers"], sys.modules["opensora_transformers_shim"]
    sys.modules["transformers"] = shim
    try:
        sys.modules.pop("opensora.models.layers.blocks", None)
        sys.modules.pop("opensora.models.stdit.stdit3", None)
        from opensora.models.stdit import stdit3 as ref
    finally:
        sys.modules["transformers"] = real_transformers

    torch.manual_seed(seed)
    config = ref.STDiT3Config(**cfg)
    model = ref.STDiT3(config).eval()
    perturb(model, seed + 1)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    state = dict(model.state_dict())
    save(os.path.join(folder, "model.safetensors"), state)
    hf_config = {k: v for k, v in config.__dict__.items()}
    hf_config.update({"architectures": ["STDiT3"], "model_type": "STDiT3"})
    hf_config["patch_size"] = list(hf_config["patch_size"])
    hf_config["input_size"] = list(hf_config["input_size"])
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)

    g = torch.Generator().manual_seed(seed + 2)
    b, c, t, h, w = x_shape
    tokens, ch = cfg["model_max_length"], cfg["caption_channels"]
    io = {
        "x": torch.randn(x_shape, generator=g),
        "timestep": torch.tensor([900.5, 123.0][:b]),
        "y": torch.randn(b, 1, tokens, ch, generator=g),
        "fps": torch.tensor([24.0, 12.0][:b]),
        "height": torch.tensor([float(h * 8)] * b),
        "width": torch.tensor([float(w * 8)] * b),
    }
    if with_masks:
        mask = torch.zeros(b, tokens, dtype=torch.int64)
        for i, n in enumerate([7, tokens, 3][:b]):
            mask[i, :n] = 1
        io["mask"] = mask
        x_mask = torch.ones(b, t, dtype=torch.bool)
        x_mask[0, 0] = False
        x_mask[-1, 2] = False
        io["x_mask"] = x_mask

    captured = {}

    def hook(key):
        def f(mod, args, output):
            captured[key + ".in"] = args[0].detach().clone()
            captured[key + ".out"] = output.detach().clone()
        return f

    handles = [model.spatial_blocks[0].register_forward_hook(hook("spatial_blocks.0")),
               model.temporal_blocks[0].register_forward_hook(hook("temporal_blocks.0"))]
    kwargs = dict(fps=io["fps"], height=io["height"], width=io["width"])
    with torch.no_grad():
        io["out"] = model(io["x"], io["timestep"], io["y"], mask=io.get("mask"), **kwargs)
        io.update(captured)
        for hd in handles:
            hd.remove()
        if with_masks:
            io["out_x_mask"] = model(io["x"], io["timestep"], io["y"], mask=io["mask"],
                                     x_mask=io["x_mask"], **kwargs)
    save(os.path.join(folder, "io.safetensors"), io)
    print(f"{name}: out {tuple(io['out'].shape)}, |out| max {io['out'].abs().max():.3f}")


def make_t5(out_dir):
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(10)
    cfg = T5Config(vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=32, relative_attention_max_distance=128,
                   feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
                   is_encoder_decoder=False, use_cache=False)
    model = T5EncoderModel(cfg).eval()
    perturb(model, 11)
    folder = os.path.join(out_dir, "t5")
    model.save_pretrained(folder, safe_serialization=True)
    model.save_pretrained(os.path.join(out_dir, "t5_sharded"), safe_serialization=True,
                          max_shard_size="40KB")
    ids = torch.tensor([[5, 17, 33, 2, 90, 1, 0, 0, 0], [7, 8, 9, 10, 11, 12, 13, 14, 1]])
    mask = (torch.arange(9)[None] < torch.tensor([[6], [9]])).long()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    save(os.path.join(out_dir, "t5_io.safetensors"), {"input_ids": ids, "attention_mask": mask,
                                                      "last_hidden_state": out})
    print(f"t5: {tuple(out.shape)}")


def make_decoder(out_dir, name, config_cls, model_cls, **extra):
    torch.manual_seed(20)
    cfg = config_cls(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                     rope_theta=10000.0, max_position_embeddings=128, tie_word_embeddings=False,
                     attn_implementation="eager", **extra)
    model = model_cls(cfg).eval()
    perturb(model, 21)
    model.save_pretrained(os.path.join(out_dir, name), safe_serialization=True)
    ids = torch.tensor([[1, 17, 33, 2, 90, 40, 0, 0], [1, 8, 9, 10, 11, 12, 13, 14]])
    mask = (torch.arange(8)[None] < torch.tensor([[6], [8]])).long()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    tensors = {"input_ids": ids, "attention_mask": mask, "last_hidden_state": out.last_hidden_state}
    for i, hs in enumerate(out.hidden_states):
        tensors[f"hidden_states.{i}"] = hs
    save(os.path.join(out_dir, f"{name}_io.safetensors"), tensors)
    print(f"{name}: {len(out.hidden_states)} hidden states")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    install_stubs()
    make_stdit3(out_dir, "stdit3_a", dict(
        hidden_size=64, depth=2, num_heads=4, patch_size=(1, 2, 2), in_channels=4, pred_sigma=True,
        caption_channels=32, model_max_length=12, qk_norm=True), (2, 4, 5, 7, 9), True, 100)
    make_stdit3(out_dir, "stdit3_b", dict(
        hidden_size=32, depth=1, num_heads=2, patch_size=(2, 2, 2), in_channels=3,
        pred_sigma=False, caption_channels=16, model_max_length=6, qk_norm=False),
        (1, 3, 3, 5, 6), False, 200)
    make_t5(out_dir)
    from transformers import LlamaConfig, LlamaModel, Qwen2Config, Qwen2Model
    make_decoder(out_dir, "llama", LlamaConfig, LlamaModel)
    make_decoder(out_dir, "qwen2", Qwen2Config, Qwen2Model)
    import transformers
    with open(os.path.join(out_dir, "VERSIONS.txt"), "w") as f:
        f.write(f"torch {torch.__version__}\ntransformers {transformers.__version__}\n"
                "Open-Sora v1.2.0 (stdit3.py, blocks.py)\nrotary_embedding_torch 0.5.3\n")


if __name__ == "__main__":
    main()
