"""Shared parts of generative backends: the paper's prompt in the model's own chat template,
greedy decoding, and the constrained one-token answer over the option letters."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from mubench.backends.base import Backend, QuestionItem
from mubench.errors import WeightsError
from mubench.prompt import LETTERS, PROMPT_TEMPLATE_SHA256, build_prompt
from mubench.weights import is_local, local_path, strip_local_prefix

DEFAULT_MAX_NEW_TOKENS = 32


@dataclass
class Generation:
    response: str
    generated_tokens: int
    constrained: int | None = None            # option index chosen among the letters only
    letter_logprobs: list[float] | None = None
    token_ids: list[int] | None = None        # generated tokens, without the end-of-turn token


class GenerativeBackend(Backend):
    kind = "generative"
    text_field = "questions"
    scoring = ("official: the paper's check on the greedy answer (primary); parsed: robust letter/option "
               "parser; constrained: one token restricted to the option letters")

    @property
    def max_new_tokens(self) -> int:
        return int(self.spec.options.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))

    @property
    def constrained_enabled(self) -> bool:
        return bool(self.spec.options.get("constrained", True))

    def model_source(self) -> tuple[str, dict]:
        """Local folder or hub id, and the keyword arguments that pin its revision."""
        weights = self.spec.weights
        if is_local(weights):
            return str(local_path(self.spec, strip_local_prefix(weights))), {}
        return weights, {"revision": self.spec.revision} if self.spec.revision else {}

    def messages(self, item: QuestionItem) -> list[dict]:
        """Zero-shot, one image, no system prompt: the paper's setting."""
        return [{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": build_prompt(item.question, item.options)}]}]

    def letter_token_ids(self, tokenizer) -> list[int]:
        ids = []
        for letter in LETTERS:
            encoded = tokenizer.encode(letter, add_special_tokens=False)
            if len(encoded) != 1:
                raise WeightsError(f"model '{self.spec.name}': the tokenizer splits the letter {letter!r} into "
                                   f"{len(encoded)} tokens; constrained scoring needs one token per letter "
                                   "(set options.constrained: false)")
            ids.append(encoded[0])
        return ids

    def prompt_info(self) -> dict:
        """Hashes that identify exactly what the model was asked."""
        import hashlib

        template = getattr(getattr(self, "processor", None), "chat_template", None) or ""
        return {"prompt_template_sha256": PROMPT_TEMPLATE_SHA256,
                "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if template else None,
                "constrained": self.constrained_enabled}

    def score_prepared(self, prepared, items):
        raise TypeError("generative backends answer with generate_prepared()")

    @abstractmethod
    def generate_prepared(self, images: list, items: list[QuestionItem]) -> list[Generation]:
        """One greedy answer (and the constrained letter) per question."""
