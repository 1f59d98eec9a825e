"""A small μ-Bench copy in the true row schema and save_to_disk layout, with every trap the
protocol lists: duplicate image_ids, Held rows with a null dataset (one stain spelled with an
en dash), a row whose dataset cannot be resolved, null questions, a corrupt image, and the
datasets outside the paper (opencell, GlaS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mubench.data.layout import write_save_to_disk_layout
from mubench.data.rows import Question, make_row, png_bytes, rows_to_table

CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00not really a png" * 8

COARSE = {"domain": Question(["biology", "pathology"], "pathology"),
          "subdomain": Question(["hematopathology", "cell biology", "histopathology"], "hematopathology"),
          "modality": Question(["light microscopy", "fluorescence microscopy", "electron microscopy"],
                               "light microscopy"),
          "submodality": Question(["brightfield", "epifluorescence", "TIRF", "darkfield"], "brightfield"),
          "stain": Question(["Wright-Giemsa stain", "H&E", "unstained"], "Wright-Giemsa stain")}
FINE = Question(["neutrophil", "basophil", "eosinophil", "lymphocyte", "monocyte", "platelet", "erythroblast",
                 "immature granulocyte"], "basophil")

# (dataset, stain, image_id, question types set to null, corrupt image?)
ROWS = [
    ("acevedo_et_al_2020", "Wright-Giemsa", "a0", (), False),
    ("acevedo_et_al_2020", "Wright-Giemsa", "a0", (), False),        # duplicate image_id
    ("acevedo_et_al_2020", "Wright-Giemsa", "a1", (), False),
    ("acevedo_et_al_2020", "Wright-Giemsa", "a1", ("classification",), True),  # corrupt, 1 null question
    (None, "H2B-mCherry", "h0", (), False),
    (None, "H2B-mCherry", "h1", (), False),
    (None, "H2B-mCherry", "h2", (), False),
    (None, "GalT\u2013EGFP", "g0", (), False),                        # en dash, as in the release
    (None, "GalT\u2013EGFP", "g1", (), False),
    (None, "mystery stain", "u0", (), False),                        # cannot be resolved: dropped
    ("nirschl_unpub_fluorescence", "none", "n0", ("stain",), False),
    ("nirschl_unpub_fluorescence", "none", "n1", ("stain",), False),
    ("nirschl_unpub_fluorescence", "none", "n2", ("stain",), False),
    ("opencell", "GFP", "o0", (), False),
    ("opencell", "GFP", "o1", (), False),
    ("sirinukunwattana_et_al_2016", "H&E", "s0", (), False),
]

# Hand-derived from ROWS (never computed by the code under test).
EXPECTED_DEFAULT = {
    "rows_read": 16,
    "rows_kept": 12,  # 4 acevedo + 3 h2b + 2 galt + 3 nirschl
    "rows_dropped": {"opencell": 2, "sirinukunwattana_et_al_2016": 1, "unresolved_dataset": 1},
    "held_rows_named_from_stain": 5,
    "tasks": {"acevedo_et_al_2020": 4, "held_et_al_2010_h2b": 3, "held_et_al_2010_galt": 2,
              "nirschl_unpub_fluorescence": 3},
    "fine_questions": 11,     # 12 kept rows − 1 null classification
    "coarse_questions": 57,   # 12 × 5 − 3 null stain questions
}
EXPECTED_WITH_EXTRA = {"rows_kept": 15, "fine_questions": 14, "coarse_questions": 72}


def _image(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return png_bytes((rng.random((40, 48, 3)) * 255).astype(np.uint8))


def fixture_rows() -> list[dict]:
    rows = []
    for index, (dataset, stain, image_id, nulls, corrupt) in enumerate(ROWS):
        questions = {**COARSE, "classification": FINE}
        questions = {q: (None if q in nulls else v) for q, v in questions.items()}
        rows.append(make_row(image=CORRUPT_PNG if corrupt else _image(index), image_id=image_id, dataset=dataset,
                             questions=questions, seed=index, label=1, label_name="basophil", domain="pathology",
                             subdomain="hematopathology", modality="light microscopy", submodality="brightfield",
                             stain=stain, institution="test fixture", license="CC0"))
    return rows


def build_fixture(folder: Path, shards: int = 2) -> list[Path]:
    table = rows_to_table(fixture_rows())
    half = -(-table.num_rows // shards)
    return write_save_to_disk_layout(folder, [table.slice(i * half, half) for i in range(shards)])
