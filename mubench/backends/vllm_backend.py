"""vLLM: the offline engine, loaded once per job; every question of a batch is submitted in one
``generate`` call (continuous batching does the rest)."""

from __future__ import annotations

import logging
import os

from mubench.backends.generative import Generation, GenerativeBackend
from mubench.errors import WeightsError

log = logging.getLogger(__name__)

# Catalog options passed straight to vllm.LLM when present.
ENGINE_OPTIONS = ("max_model_len", "gpu_memory_utilization", "trust_remote_code", "enforce_eager",
                  "max_num_seqs", "quantization", "limit_mm_per_prompt", "mm_processor_kwargs", "swap_space",
                  "tokenizer_mode", "config_format", "load_format", "enable_prefix_caching",
                  "max_num_batched_tokens")


def visible_gpus() -> int:
    """GPUs this job was given (SLURM and CUDA_VISIBLE_DEVICES say which)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


class VllmBackend(GenerativeBackend):
    def load(self) -> None:
        if self.device == "cpu":
            # In-process engine and a small KV cache: vLLM's CPU build on a laptop or in CI.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        from transformers import AutoProcessor
        from vllm import LLM

        source, pin = self.model_source()
        options = self.spec.options
        engine = {k: options[k] for k in ENGINE_OPTIONS if k in options}
        engine.setdefault("limit_mm_per_prompt", {"image": 1})
        if self.device == "cpu":
            engine.setdefault("enforce_eager", True)
        self.tensor_parallel_size = int(options.get("tensor_parallel_size") or max(1, visible_gpus()))
        try:
            self.llm = LLM(model=source, tokenizer=source, dtype=options.get("dtype", "auto"), seed=self.seed,
                           tensor_parallel_size=self.tensor_parallel_size, **pin, **engine)
            self.processor = AutoProcessor.from_pretrained(
                source, trust_remote_code=bool(options.get("trust_remote_code")), **pin)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"model '{self.spec.name}': vLLM cannot load {source}: {exc}") from exc
        tokenizer = self.llm.get_tokenizer()
        self.letter_ids = self.letter_token_ids(tokenizer) if self.constrained_enabled else None

    def _prompt(self, item) -> str:
        return self.processor.apply_chat_template(self.messages(item), tokenize=False, add_generation_prompt=True)

    def generate_prepared(self, images, items):
        from vllm import SamplingParams

        requests = [{"prompt": self._prompt(item), "multi_modal_data": {"image": images[item.image_index]}}
                    for item in items]
        greedy = SamplingParams(temperature=0.0, max_tokens=self.max_new_tokens, seed=self.seed)
        params = [greedy] * len(requests)
        if self.letter_ids:
            # The one-token constrained answers go in the same call: one scheduling loop, and the
            # prompts' prefill is shared through vLLM's prefix cache.
            params += [SamplingParams(temperature=0.0, max_tokens=1, logprobs=len(item.options),
                                      allowed_token_ids=self.letter_ids[:len(item.options)]) for item in items]
        outputs = self.llm.generate(requests * (2 if self.letter_ids else 1), params, use_tqdm=False)
        eos = self.llm.get_tokenizer().eos_token_id
        results = [Generation(o.outputs[0].text, len(o.outputs[0].token_ids),
                              token_ids=[t for t in o.outputs[0].token_ids if t != eos]) for o in outputs[:len(items)]]
        if self.letter_ids:
            for result, item, output in zip(results, items, outputs[len(items):]):
                token = output.outputs[0].token_ids[0]
                result.constrained = self.letter_ids.index(token)
                logprobs = output.outputs[0].logprobs[0] if output.outputs[0].logprobs else {}
                result.letter_logprobs = [round(float(logprobs[t].logprob), 6) if t in logprobs else None
                                          for t in self.letter_ids[:len(item.options)]]
        return results

    def runtime_info(self) -> dict:
        import vllm

        return {"device": self.device, "engine": "vllm", "vllm_version": vllm.__version__,
                "tensor_parallel_size": self.tensor_parallel_size, "max_new_tokens": self.max_new_tokens,
                "decoding": "greedy", "resolved_revision": self.spec.revision, **self.prompt_info(),
                "engine_options": {k: self.spec.options[k] for k in ENGINE_OPTIONS if k in self.spec.options}}
