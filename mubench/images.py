"""Decode μ-Bench images to RGB, turning every failure into a named, per-row error."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

MAX_PIXELS = 20_000 * 20_000  # far above any μ-Bench image; stops decompression bombs


class ImageError(ValueError):
    pass


def decode_image(entry: dict | None) -> Image.Image:
    if entry is None or not entry.get("bytes"):
        raise ImageError("image missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(entry["bytes"]))
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"image too large ({image.width}x{image.height})")
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError(f"image too large: {exc}") from exc
    except Exception as exc:  # PIL raises many types for corrupt data
        raise ImageError(f"cannot decode image: {type(exc).__name__}: {exc}") from exc
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and float images are rescaled to 8 bits (PIL's convert would clip them)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        image = Image.fromarray(scaled.astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")
