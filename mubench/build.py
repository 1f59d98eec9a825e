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
    elif kind in VLM_KINDS:
        _build_qwen_vl(out, kind, overrides, seed)
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


# ---- tiny vision-language models (Qwen2-VL family), for the generative path -----------------

VLM_KINDS = ("qwen2_vl_config", "qwen2_5_vl_config")
QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                       "<|image_pad|>", "<|video_pad|>"]
# The structure of Qwen2-VL's own chat template, reduced to what a one-image question needs.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] in ('image', 'image_url') %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _tiny_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer trained here on the prompt's own words (offline, seconds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from mubench.data.demo import OPTIONS
    from mubench.data.rows import QUESTION_TEXT
    from mubench.prompt import INSTRUCTION

    corpus = [INSTRUCTION, "Question:", *QUESTION_TEXT.values(), *(o for opts in OPTIONS.values() for o in opts),
              "A) B) C) D) E) F) G) H) The answer is"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=QWEN_SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus * 10, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  chat_template=QWEN_CHAT_TEMPLATE)


def _build_qwen_vl(out: Path, kind: str, overrides: dict, seed: int) -> None:
    import torch
    import transformers as tf

    tokenizer = _tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    text = {"vocab_size": len(tokenizer), "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [4, 6, 6]}, "tie_word_embeddings": False,
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}
    if kind == "qwen2_vl_config":
        vision = {"depth": 2, "embed_dim": 64, "hidden_size": 128, "num_heads": 4, "patch_size": 14,
                  "spatial_merge_size": 2, "temporal_patch_size": 2, "mlp_ratio": 2}
        config_class, model_class = tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration
        image_processor_class, video_class, processor_class = (tf.Qwen2VLImageProcessor, tf.Qwen2VLVideoProcessor,
                                                               tf.Qwen2VLProcessor)
    else:
        vision = {"depth": 2, "hidden_size": 64, "out_hidden_size": 128, "intermediate_size": 128, "num_heads": 4,
                  "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
                  "fullatt_block_indexes": [1]}
        config_class, model_class = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration
        image_processor_class, video_class, processor_class = (tf.Qwen2VLImageProcessor, tf.Qwen2VLVideoProcessor,
                                                               tf.Qwen2_5_VLProcessor)
    text = _merge(text, overrides.get("text_config", {}))
    half_head = text["hidden_size"] // text["num_attention_heads"] // 2
    text["rope_scaling"] = {"type": "mrope", "mrope_section": [half_head // 4, 3 * half_head // 8,
                                                               half_head - half_head // 4 - 3 * half_head // 8]}
    # The vision merger projects into the language model's width.
    vision["hidden_size" if kind == "qwen2_vl_config" else "out_hidden_size"] = text["hidden_size"]
    config = config_class(text_config=text, vision_config=_merge(vision, overrides.get("vision_config", {})),
                          image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                          vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if overrides.get("config_only"):
        # No weights: for vLLM's load_format="dummy" (full-size benchmarks without a download).
        config.architectures = [model_class.__name__]
        config.save_pretrained(out)
    else:
        torch.manual_seed(seed)
        model = model_class(config)
        model.generation_config.eos_token_id = ids["<|im_end|>"]
        model.generation_config.pad_token_id = ids["<|endoftext|>"]
        model.save_pretrained(out)
    pixels = overrides.get("max_pixels", 112 * 112)
    image_processor = image_processor_class(min_pixels=56 * 56, max_pixels=pixels)
    processor = processor_class(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_class(),
                                chat_template=QWEN_CHAT_TEMPLATE)
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
