"""The paper's generative prompt and its three answer metrics.

official     the paper's check, reproduced exactly (eVLLM ``check_prediction``): correct iff the
             lettered gold option (e.g. "B) basophil") is a case-sensitive substring of the
             response, or the response's first character is the gold letter. Primary metric.
parsed       a robust parser: a lone letter, "B)", "(B)", "Answer: B", or the text of exactly
             one option; anything else is unparsable (its rate is reported, never guessed).
constrained  the answer restricted to the option letters (one generated token whose choice is
             limited to those letters); always a valid letter.
"""

from __future__ import annotations

import hashlib
import re

LETTERS = "ABCDEFGH"
INSTRUCTION = "Answer with a single letter, no extra details."


def lettered_options(options: list[str] | tuple[str, ...]) -> list[str]:
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options: the protocol letters at most {len(LETTERS)} (A–H)")
    return [f"{LETTERS[i]}) {option}" for i, option in enumerate(options)]


def build_prompt(question: str, options: list[str] | tuple[str, ...]) -> str:
    """Exactly the paper's text: no space after "Question:", options in stored order."""
    return INSTRUCTION + "\n" + "Question:" + question + "\n" + "\n".join(lettered_options(options))


PROMPT_TEMPLATE_SHA256 = hashlib.sha256(build_prompt("{question}", ["{option_a}", "{option_b}"]).encode()).hexdigest()


def official_correct(response: str, options: list[str] | tuple[str, ...], gold: int) -> bool:
    """eVLLM's check_prediction, reproduced exactly (including its case sensitivity)."""
    gold_lettered = lettered_options(options)[gold]
    return gold_lettered in response or (len(response) > 0 and response[0] == LETTERS[gold])


_LETTER_PATTERNS = [
    r"^\s*\(?([A-H])\)?\s*[.):]?\s*$",             # "B", "(B)", "B)", "B."
    r"^\s*\(?([A-H])[).:]\s",                       # "B) basophil", "B. basophil"
    r"(?i:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*\(?([A-H])\b\)?",  # "Answer: B", "The answer is (B)"
]


def parse_answer(response: str, options: list[str] | tuple[str, ...]) -> int | None:
    """Index of the option the response names, or None when it is not clear."""
    n = len(options)
    text = response.strip()
    for pattern in _LETTER_PATTERNS:
        match = re.search(pattern, text)
        if match and LETTERS.index(match.group(1)) < n:
            return LETTERS.index(match.group(1))
    lowered = text.lower()
    named = [i for i, option in enumerate(options) if option.strip() and option.strip().lower() in lowered]
    # An option whose text contains another's (e.g. "cell" in "cell biology") must not count twice.
    named = [i for i in named if not any(j != i and options[i].lower() in options[j].lower() and j in named
                                         for j in named)]
    return named[0] if len(named) == 1 else None
