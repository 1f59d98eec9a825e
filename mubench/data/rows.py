"""Build rows in the μ-Bench schema (for the demo dataset and test fixtures)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from PIL import Image

from mubench.data.layout import UBENCH_SCHEMA
from mubench.protocol import QUESTION_TYPES

QUESTION_TEXT = {
    "domain": "What is the domain of this microscopy image?",
    "subdomain": "What is the subdomain of this microscopy image?",
    "modality": "What microscopy modality was used to acquire this image?",
    "submodality": "What microscopy sub-modality was used to acquire this image?",
    "stain": "What stain or contrast agent is shown in this image?",
    "classification": "Which of the following best describes this image?",
}
CAPTION_TEMPLATE = {
    "domain": "A microscopy image from {}.",
    "subdomain": "A microscopy image from {}.",
    "modality": "An image acquired with {}.",
    "submodality": "An image acquired with {} microscopy.",
    "stain": "A microscopy image with {}.",
    "classification": "A microscopy image of {}.",
}


@dataclass
class Question:
    """One closed question: its option vocabulary and the gold answer."""
    options: list[str]
    answer: str


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def question_entry(qtype: str, question: Question, rng: random.Random, caption: bool, row_id: str) -> dict:
    """Shuffle options once (stored order is what every model sees) and record the gold index."""
    options = list(question.options)
    rng.shuffle(options)
    texts = [CAPTION_TEMPLATE[qtype].format(o) for o in options] if caption else options
    idx = options.index(question.answer)
    return {"question": QUESTION_TEXT[qtype], "options": texts, "answer": texts[idx], "answer_idx": idx,
            "id": f"{row_id}-{qtype}", "name": qtype}


def make_row(*, image: bytes | None, image_id: str, dataset: str | None, questions: dict[str, Question | None],
             seed: int, label: int, label_name: str, domain: str, subdomain: str, modality: str,
             submodality: str, stain: str, institution: str, license: str, pmid: str | None = None,
             microns_per_pixel: float | None = None, synthetic: bool = False) -> dict:
    rng_q, rng_c = random.Random(seed), random.Random(seed)  # same shuffle for questions and captions
    qdict, cdict = {}, {}
    for qtype in QUESTION_TYPES:
        question = questions.get(qtype)
        qdict[qtype] = None if question is None else question_entry(qtype, question, rng_q, False, image_id)
        cdict[qtype] = None if question is None else question_entry(qtype, question, rng_c, True, image_id)
    return {
        "image_id": image_id, "image": None if image is None else {"bytes": image, "path": f"{image_id}.png"},
        "label": label, "label_name": label_name, "dataset": dataset, "domain": domain,
        "institution": institution, "license": license, "microns_per_pixel": microns_per_pixel,
        "modality": modality, "ncbitaxon_id": None, "ncbitaxon_name": None, "pmid": pmid, "split": "test",
        "stain": stain, "subdomain": subdomain, "submodality": submodality, "synthetic": synthetic,
        "captions": cdict, "questions": qdict, "bbox": None, "polygon": None,
    }


def rows_to_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=UBENCH_SCHEMA)
