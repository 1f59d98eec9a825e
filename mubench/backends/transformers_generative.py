"""Generation with transformers, one question at a time: for models vLLM lacks, and the
reference that vLLM's answers are checked against."""

from __future__ import annotations

from mubench.backends.generative import Generation, GenerativeBackend
from mubench.errors import WeightsError


class TransformersGenerativeBackend(GenerativeBackend):
    def load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        source, pin = self.model_source()
        options = self.spec.options
        dtype = options.get("dtype", "auto")
        trust = bool(options.get("trust_remote_code"))
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(
                source, dtype=getattr(torch, dtype) if dtype != "auto" else "auto", trust_remote_code=trust,
                **pin).to(self.device).eval()
            self.processor = AutoProcessor.from_pretrained(source, trust_remote_code=trust, **pin)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"model '{self.spec.name}': transformers cannot load {source}: {exc}") from exc
        tokenizer = self.processor.tokenizer
        self.letter_ids = self.letter_token_ids(tokenizer) if self.constrained_enabled else None
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def generate_prepared(self, images, items):
        import torch

        results = []
        with torch.inference_mode():
            for item in items:
                prompt = self.processor.apply_chat_template(self.messages(item), tokenize=False,
                                                            add_generation_prompt=True)
                inputs = self.processor(text=[prompt], images=[images[item.image_index]], return_tensors="pt")
                inputs = inputs.to(self.device)
                output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                             pad_token_id=self.pad_id)
                new_tokens = output[0, inputs["input_ids"].shape[1]:]
                eos = self.model.generation_config.eos_token_id
                eos = set(eos if isinstance(eos, list) else [eos])
                kept = new_tokens.tolist()
                for index, token in enumerate(kept):
                    if token in eos:
                        kept = kept[:index]  # generation ends at the first end-of-turn token
                        break
                text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
                result = Generation(text, len(new_tokens), token_ids=kept)
                if self.letter_ids:
                    logits = self.model(**inputs).logits[0, -1]
                    allowed = self.letter_ids[:len(item.options)]
                    letter_logprobs = torch.log_softmax(logits.float(), dim=-1)[allowed]
                    result.constrained = int(torch.argmax(letter_logprobs))
                    result.letter_logprobs = [round(float(v), 6) for v in letter_logprobs]
                results.append(result)
        return results

    def runtime_info(self) -> dict:
        return {"device": self.device, "engine": "transformers", "max_new_tokens": self.max_new_tokens,
                "decoding": "greedy", "resolved_revision": self.spec.revision, **self.prompt_info()}
