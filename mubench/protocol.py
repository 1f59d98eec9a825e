"""Facts of the μ-Bench protocol (see docs/protocol.md and the paper's evaluation code).

Everything count-like is derived from the data at run time; only names and the published
checksums live here.
"""

from __future__ import annotations

HUB_REPO_ID = "jnirschl/uBench"
HUB_REVISION = "3f2c5b590bc7a208d5b60f3527ce4c76a331aa2b"  # 2024-12-15

# SHA-256 of the seven Arrow stream shards at HUB_REVISION.
HUB_SHARD_SHA256 = {
    "ubench-test-00000-of-00007.arrow": "3d346134e6dffed41f74da64c1c173f5efd3a10200805796a030357297b630f1",
    "ubench-test-00001-of-00007.arrow": "790591636ae679afa1161664d207c2bb2e3d583690d03967e38364ba0f31ccac",
    "ubench-test-00002-of-00007.arrow": "c370cd84e6ed9b00483ef3d20f5c06d5ff2264733ea87f2df98cf9a22820bf74",
    "ubench-test-00003-of-00007.arrow": "832cdd6f73a132028584b4e47ec1afe643e0490dd8ec9686eabbb9de3eb7f814",
    "ubench-test-00004-of-00007.arrow": "e2741415cef1327ba243f21000ac43aab2d36b61a9c2c862a1d0e21f200f4a69",
    "ubench-test-00005-of-00007.arrow": "89deae84ed2dab1bb1fc40be0aefe81b8d94590cec548d1950ff5ff853143d34",
    "ubench-test-00006-of-00007.arrow": "534beca2084a250d4436340c78accc9fe7cc2d6063d4884302e7e7f141edad6c",
}

COARSE_QUESTION_TYPES = ("domain", "subdomain", "modality", "submodality", "stain")
FINE_QUESTION_TYPES = ("classification",)
QUESTION_TYPES = COARSE_QUESTION_TYPES + FINE_QUESTION_TYPES
MAX_OPTIONS = 8  # letters A–H in the generative prompt

# Rows of Held et al. 2010 carry dataset == null; the stain names the task.
HELD_STAIN_TO_DATASET = {
    "H2B-mCherry": "held_et_al_2010_h2b",
    "GalT-EGFP": "held_et_al_2010_galt",
}

# In the public release but not in the paper: excluded unless a config includes them.
EXTRA_DATASETS = ("opencell", "sirinukunwattana_et_al_2016")

# The paper's fine-grained dataset keys (eVLLM eval_utils.py).
PAPER_DATASETS = (
    "acevedo_et_al_2020", "jung_et_al_2022", "nirschl_unpub_fluorescence",
    "burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity", "burgess_et_al_2024_texture",
    "eulenberg_et_al_2017_brightfield", "eulenberg_et_al_2017_darkfield",
    "eulenberg_et_al_2017_epifluorescence", "held_et_al_2010_galt", "held_et_al_2010_h2b",
    "held_et_al_2010_mt", "empiar_sbfsem", "icpr2020_pollen", "wu_et_al_2023",
    "colocalization_benchmark", "hussain_et_al_2019", "kather_et_al_2016", "kather_et_al_2018",
    "kather_et_al_2018_val7k", "nirschl_et_al_2018", "tang_et_al_2019", "wong_et_al_2022",
)

PATHOLOGY_SLICE = (
    "hussain_et_al_2019", "acevedo_et_al_2020", "jung_et_al_2022", "kather_et_al_2016",
    "kather_et_al_2018", "kather_et_al_2018_val7k", "nirschl_et_al_2018",
)
HE_SLICE = ("kather_et_al_2016", "kather_et_al_2018", "kather_et_al_2018_val7k", "nirschl_et_al_2018")


def normalise_dashes(text: str) -> str:
    """Stain names in the release use an en dash ("GalT–EGFP"); match on a plain hyphen."""
    return text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2212", "-")


def dataset_from_stain(stain: str | None) -> str | None:
    if stain is None:
        return None
    return HELD_STAIN_TO_DATASET.get(normalise_dashes(stain).strip())


def question_group(question_type: str) -> str:
    if question_type in COARSE_QUESTION_TYPES:
        return "coarse"
    if question_type in FINE_QUESTION_TYPES:
        return "fine"
    return "other"


# Table 1 of the μ-Bench paper (Lozano et al., NeurIPS 2024 D&B, v1): accuracy % and the "±" it prints
# (half-width of the bootstrap CI), keyed by the catalog's `paper_name`. Cognition is a separate,
# unreleased question set: shown only when a user supplies it.
PAPER_TABLE1 = {
    "GPT-4o": {"coarse": (62.68, 0.35), "fine": (51.73, 0.82), "cognition": (62.00, 9.00)},
    "CogVLM": {"coarse": (52.05, 0.35), "fine": (28.18, 0.70), "cognition": (41.00, 10.00)},
    "QwenVLM": {"coarse": (49.85, 0.35), "fine": (27.81, 0.70), "cognition": (41.00, 10.00)},
    "PaliGemma": {"coarse": (36.29, 0.33), "fine": (21.29, 0.64), "cognition": (25.00, 8.00)},
    "BiomedCLIP": {"coarse": (47.57, 0.34), "fine": (34.65, 0.75), "cognition": (25.00, 8.00)},
    "ALIGN": {"coarse": (40.70, 0.34), "fine": (31.90, 0.72), "cognition": (31.00, 9.00)},
    "OpenCLIP": {"coarse": (36.34, 0.33), "fine": (29.36, 0.69), "cognition": (38.33, 8.33)},
    "CLIP": {"coarse": (35.41, 0.34), "fine": (30.09, 0.71), "cognition": (28.00, 9.00)},
    "PLIP": {"coarse": (31.11, 0.32), "fine": (25.49, 0.68), "cognition": (17.00, 7.00)},
    "CONCH": {"coarse": (27.84, 0.31), "fine": (33.64, 0.72), "cognition": (18.00, 7.00)},
    "QuiltNet": {"coarse": (26.58, 0.31), "fine": (27.85, 0.69), "cognition": (13.00, 6.00)},
    "Random": {"coarse": (18.34, 0.27), "fine": (19.13, 0.60), "cognition": (17.00, 7.00)},
}
