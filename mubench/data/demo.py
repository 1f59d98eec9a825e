"""The embedded offline demo: a small μ-Bench-schema dataset built from real microscopy images.

The images ship inside PyPI wheels (scikit-image's data folder and the stardist wheel), so the
demo needs no network. Each source image is cut into tiles; every tile gets the five coarse
questions (its true domain, subdomain, modality, sub-modality and stain) and one fine-grained
question whose label is *measured* on the tile (nucleus count from the ground-truth mask, stain
density from colour deconvolution, texture for the phase-contrast cell). The labels are honest
but the task is synthetic: demo scores exercise the pipeline, they say nothing about models.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from mubench.data.layout import write_save_to_disk_layout
from mubench.data.rows import Question, make_row, png_bytes, rows_to_table
from mubench.errors import DataError

log = logging.getLogger(__name__)

DEMO_TASKS = ("demo_dsb2018_nuclei", "demo_stardist_he", "demo_skimage_ihc", "demo_skimage_cell")

OPTIONS = {
    "domain": ["biology", "pathology"],
    "subdomain": ["cell biology", "histopathology", "cytopathology", "hematopathology", "neurobiology",
                  "microbiology"],
    "modality": ["light microscopy", "fluorescence microscopy", "electron microscopy"],
    "submodality": ["brightfield", "phase contrast", "darkfield", "epifluorescence", "confocal", "TIRF",
                    "scanning electron", "transmission electron"],
    "stain": ["hematoxylin and eosin (H&E)", "DAB immunohistochemistry", "DAPI/Hoechst nuclear stain",
              "no stain (label-free)", "Papanicolaou stain", "Wright-Giemsa stain"],
}


@dataclass
class DemoSource:
    key: str
    image: np.ndarray                   # uint8, HxW or HxWx3
    tile: int
    stride: int
    measure: Callable[[int, int], float]  # (y, x) of a tile → measured quantity
    classes: list[str]                  # ordered low → high by the measured quantity
    coarse: dict[str, str]
    institution: str
    license: str


def _stretch_to_uint8(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (0.5, 99.5))
    return (np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)


def _read_from_wheel(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member)


def find_stardist_wheel(folder: Path) -> Path:
    wheels = sorted(Path(folder).glob("stardist-*.whl"))
    if not wheels:
        raise DataError(f"no stardist wheel in {folder}: run scripts/setup-env.sh "
                        "(it runs `pip download --no-deps stardist`) or pass --sources DIR")
    return wheels[-1]


def demo_sources(sources_dir: Path) -> list[DemoSource]:
    import skimage.data
    import tifffile
    from PIL import Image
    from skimage.color import rgb2hed

    wheel = find_stardist_wheel(sources_dir)
    nuclei = tifffile.imread(io.BytesIO(_read_from_wheel(wheel, "stardist/data/images/img2d.tif")))
    mask = tifffile.imread(io.BytesIO(_read_from_wheel(wheel, "stardist/data/images/mask2d.tif")))
    histo = np.asarray(Image.open(io.BytesIO(_read_from_wheel(wheel, "stardist/data/images/histo.jpg"))).convert("RGB"))
    ihc = skimage.data.immunohistochemistry()
    cell = skimage.data.cell()
    histo_h = rgb2hed(histo)[..., 0]
    ihc_dab = rgb2hed(ihc)[..., 2]

    def nuclei_count(y, x):
        ids, sizes = np.unique(mask[y:y + 128, x:x + 128], return_counts=True)
        return float(sum(1 for i, s in zip(ids, sizes) if i and s >= 40))

    return [
        DemoSource("demo_dsb2018_nuclei", _stretch_to_uint8(nuclei), 128, 64, nuclei_count,
                   ["a sparse field of nuclei", "a moderately dense field of nuclei", "a dense field of nuclei"],
                   {"domain": "biology", "subdomain": "cell biology", "modality": "fluorescence microscopy",
                    "submodality": "epifluorescence", "stain": "DAPI/Hoechst nuclear stain"},
                   "Data Science Bowl 2018, as shipped in the stardist wheel", "see stardist (BSD-3-Clause)"),
        DemoSource("demo_stardist_he", histo, 96, 48, lambda y, x: float(histo_h[y:y + 96, x:x + 96].mean()),
                   ["tissue with few nuclei", "tissue with a moderate density of nuclei",
                    "tissue densely packed with nuclei"],
                   {"domain": "pathology", "subdomain": "histopathology", "modality": "light microscopy",
                    "submodality": "brightfield", "stain": "hematoxylin and eosin (H&E)"},
                   "H&E crop shipped in the stardist wheel", "see stardist (BSD-3-Clause)"),
        DemoSource("demo_skimage_ihc", ihc, 128, 64, lambda y, x: float(ihc_dab[y:y + 128, x:x + 128].mean()),
                   ["weak DAB staining", "moderate DAB staining", "strong DAB staining"],
                   {"domain": "pathology", "subdomain": "histopathology", "modality": "light microscopy",
                    "submodality": "brightfield", "stain": "DAB immunohistochemistry"},
                   "scikit-image data (immunohistochemistry)", "see scikit-image data/README.txt"),
        DemoSource("demo_skimage_cell", cell, 128, 64, lambda y, x: float(cell[y:y + 128, x:x + 128].std()),
                   ["background without a cell", "part of a cell"],
                   {"domain": "biology", "subdomain": "cell biology", "modality": "light microscopy",
                    "submodality": "phase contrast", "stain": "no stain (label-free)"},
                   "scikit-image data (cell)", "CC0"),
    ]


def _tiles(source: DemoSource):
    height, width = source.image.shape[:2]
    for y in range(0, height - source.tile + 1, source.stride):
        for x in range(0, width - source.tile + 1, source.stride):
            yield y, x


def _class_of(values: list[float], n_classes: int) -> list[int]:
    """Quantile bins, so classes are balanced and the label is a measured rank."""
    edges = np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1])
    return [int(np.searchsorted(edges, v, side="right")) for v in values]


def demo_rows(sources_dir: Path, seed: int = 0) -> list[dict]:
    rows = []
    for source_index, source in enumerate(demo_sources(sources_dir)):
        positions = list(_tiles(source))
        labels = _class_of([source.measure(y, x) for y, x in positions], len(source.classes))
        for tile_index, ((y, x), label) in enumerate(zip(positions, labels)):
            crop = source.image[y:y + source.tile, x:x + source.tile]
            questions = {qtype: Question(OPTIONS[qtype], answer) for qtype, answer in source.coarse.items()}
            questions["classification"] = Question(source.classes, source.classes[label])
            rows.append(make_row(
                image=png_bytes(np.ascontiguousarray(crop)), image_id=f"{source.key}_{tile_index:03d}",
                dataset=source.key, questions=questions, seed=seed * 1_000_003 + source_index * 1000 + tile_index,
                label=label, label_name=source.classes[label], institution=source.institution,
                license=source.license, **source.coarse))
    return rows


def build_demo(out_dir: Path, sources_dir: Path, seed: int = 0, shards: int = 2) -> dict:
    rows = demo_rows(sources_dir, seed)
    table = rows_to_table(rows)
    per_shard = -(-table.num_rows // shards)
    parts = [table.slice(i * per_shard, per_shard) for i in range(shards)]
    write_save_to_disk_layout(Path(out_dir), parts)
    log.info("demo dataset: %d rows in %d shards at %s", table.num_rows, shards, out_dir)
    return {"rows": table.num_rows, "shards": shards}
