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
