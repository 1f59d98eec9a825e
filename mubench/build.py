"""Build model weights locally from a config (random initialisation, seeded).

Used by the offline demo and the tests: real open_clip and transformers architectures, real
tokenizers (open_clip's BPE vocabulary ships in its wheel and is the one OpenAI's CLIP uses),
random weights. Catalog entries with a ``build`` recipe point their ``weights`` at the folder
this writes; the workflow's build_model rule creates it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mubench.errors import ConfigError

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

DEFAULT_OPEN_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
DEFAULT_HF_CLIP = {
    "projection_dim": 64,
    "text_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "max_position_embeddings": 77, "vocab_size": 49408},
    "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                      "num_attention_heads": 2, "image_size": 224, "patch_size": 32},
}


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def weights_folder(weights: str) -> Path:
    from mubench.weights import strip_local_prefix

    return Path(strip_local_prefix(weights))


def build_model(spec, out: Path | None = None) -> Path:
    if not spec.build:
        raise ConfigError(f"model '{spec.name}' has no build recipe in the catalog")
    out = Path(out) if out else weights_folder(spec.weights)
    out.mkdir(parents=True, exist_ok=True)
    kind, seed, overrides = spec.build["kind"], spec.build.get("seed", 0), spec.build.get("config", {})
    if kind == "open_clip_config":
        _build_open_clip(out, _merge(DEFAULT_OPEN_CLIP, overrides), seed)
    elif kind == "transformers_clip_config":
        _build_hf_clip(out, _merge(DEFAULT_HF_CLIP, overrides), seed)
    else:
        raise ConfigError(f"model '{spec.name}': unknown build kind '{kind}'")
    (out / "mubench_build.json").write_text(json.dumps({"model": spec.name, "kind": kind, "seed": seed,
                                                        "config": overrides}, indent=2))
    return out


def _build_open_clip(out: Path, model_cfg: dict, seed: int) -> None:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD}}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"))


def openai_bpe_vocab() -> tuple[dict[str, int], list[str]]:
    """OpenAI CLIP's vocabulary and merges, rebuilt from the BPE file in open_clip's wheel."""
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(merge.split()) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(vocab)}, merges


def _build_hf_clip(out: Path, config: dict, seed: int) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(**config))
    model.save_pretrained(out)
    vocab, merges = openai_bpe_vocab()
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(vocab=str(out / "vocab.json"), merges=str(out / "merges.txt"),
                              model_max_length=config["text_config"]["max_position_embeddings"])
    size = config["vision_config"]["image_size"]
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                         image_mean=OPENAI_MEAN, image_std=OPENAI_STD)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
