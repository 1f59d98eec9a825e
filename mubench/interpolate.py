"""Weight interpolation between a base model and its fine-tuned descendant.

θ(α) = (1 − α)·θ_base + α·θ_ft, tensor by tensor (Wortsman et al., WiSE-FT; the μ-Bench paper uses
it to show that fine-tuned pathology models such as PLIP and QuiltNet forget general microscopy
knowledge and that interpolating towards their base model repairs much of it). α = 0 is the base
model and α = 1 the fine-tuned one, bit for bit: the formula is written so that both ends are exact.

A pair must share a storage format (open_clip or transformers) and an architecture (same config,
same keys, shapes and dtypes). Anything else is refused, naming the first differences, before any
weights are combined; the workflow checks every pair before any evaluation job starts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from mubench.catalog import ModelSpec
from mubench.errors import ConfigError, WeightsError
from mubench.weights import revision_of_snapshot

FORMATS = ("open_clip", "transformers")
# The file holding each format's weights, as written by open_clip / transformers (safetensors first).
WEIGHT_FILES = {"open_clip": ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
                "transformers": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")}
OUTPUT_FILE = {"open_clip": "open_clip_model.safetensors", "transformers": "model.safetensors"}
ARCHITECTURE_FILE = {"open_clip": "open_clip_config.json", "transformers": "config.json"}
# config.json keys that say where a checkpoint came from or how it is labelled, not what its layers
# compute (dtypes are compared tensor by tensor instead); they may differ within a pair, at any depth
NON_ARCHITECTURE_KEYS = {"transformers_version", "torch_dtype", "dtype", "id2label", "label2id",
                         "bos_token_id", "eos_token_id", "pad_token_id", "task_specific_params"}


class InterpolationError(WeightsError):
    pass


@dataclass(frozen=True)
class Pair:
    name: str
    base: ModelSpec
    finetuned: ModelSpec
    alphas: tuple[float, ...]
    display_name: str

    def derived_name(self, alpha: float) -> str:
        return f"{self.name}-a{alpha:.2f}"

    def derived(self) -> dict[str, float]:
        return {self.derived_name(alpha): alpha for alpha in self.alphas}


def pair_from_config(entry: dict, catalog, source: str = "config") -> Pair:
    """A config `interpolations` entry, checked for what can be checked without weights."""
    base, finetuned = catalog.get(entry["base"]), catalog.get(entry["finetuned"])
    where = f"{source}: interpolation '{entry['name']}'"
    for role, spec in (("base", base), ("finetuned", finetuned)):
        if spec.backend not in FORMATS:
            raise ConfigError(f"{where}: {role} model '{spec.name}' uses backend '{spec.backend}'; only "
                              f"{' and '.join(FORMATS)} checkpoints can be interpolated")
    if base.backend != finetuned.backend:
        raise ConfigError(
            f"{where}: base '{base.name}' is stored in {base.backend} format and fine-tuned '{finetuned.name}' "
            f"in {finetuned.backend} format. Their parameter names and layouts differ, and converting between "
            f"them is not implemented, so they are refused. Use a base in the fine-tuned model's format "
            f"(PLIP was fine-tuned from OpenAI's CLIP ViT-B/32, which is on the hub in transformers format "
            f"as openai/clip-vit-base-patch32; QuiltNet from the same model in open_clip format).")
    alphas = tuple(float(a) for a in entry["alphas"])
    if len(set(round(a, 2) for a in alphas)) != len(alphas):
        raise ConfigError(f"{where}: alphas {list(alphas)} repeat once rounded to 2 decimals (model names)")
    return Pair(entry["name"], base, finetuned, alphas, entry.get("display_name") or entry["name"])


def derived_spec(pair: Pair, alpha: float, folder: str | Path) -> ModelSpec:
    """The catalog entry of θ(α): the base model's backend, options and resources, local weights."""
    base = pair.base
    return ModelSpec(name=pair.derived_name(alpha), backend=base.backend, weights=f"local-dir:{folder}",
                     display_name=f"{pair.display_name} α={alpha:g}", model_type=base.model_type,
                     options=dict(base.options), batch_size=base.batch_size, params_m=base.params_m,
                     resources=dict(base.resources))


# ---- weights on disk ------------------------------------------------------------------------

def checkpoint_folder(spec: ModelSpec) -> Path:
    """Folder holding ``spec``'s checkpoint: a local folder, or its snapshot in the hub cache."""
    from mubench.weights import hub_snapshot, hub_source, is_local, local_path, strip_local_prefix

    if is_local(spec.weights):
        return local_path(spec, strip_local_prefix(spec.weights))
    source = hub_source(spec)
    if source is None:
        raise InterpolationError(f"model '{spec.name}': no checkpoint folder for weights '{spec.weights}'")
    repo_id, files = source
    return hub_snapshot(spec, repo_id, None if files is None else [*files, "*.json", "*.txt"])


def weight_files(folder: Path, fmt: str) -> list[Path]:
    for name in WEIGHT_FILES[fmt]:
        path = folder / name
        if path.exists():
            if name.endswith(".index.json"):
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
                return [folder / shard for shard in shards]
            return [path]
    raise InterpolationError(f"{folder}: no {fmt} weights ({' or '.join(WEIGHT_FILES[fmt])})")


def tensor_signature(folder: Path, fmt: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Key → (dtype, shape) of a checkpoint; safetensors headers only, no tensor is loaded."""
    signature = {}
    for path in weight_files(folder, fmt):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    piece = handle.get_slice(key)
                    signature[key] = (piece.get_dtype(), tuple(piece.get_shape()))
        else:
            for key, tensor in _load_bin(path).items():
                signature[key] = (str(tensor.dtype), tuple(tensor.shape))
    return signature


def architecture(folder: Path, fmt: str) -> dict:
    path = folder / ARCHITECTURE_FILE[fmt]
    if not path.exists():
        raise InterpolationError(f"{folder}: no {ARCHITECTURE_FILE[fmt]}, so the architecture cannot be checked "
                                 "(and θ(α) could not be loaded); refused")
    config = json.loads(path.read_text())
    if fmt == "open_clip":
        return config.get("model_cfg", config)
    return _architectural(config)


def _architectural(value):
    if isinstance(value, dict):
        return {k: _architectural(v) for k, v in value.items()
                if k not in NON_ARCHITECTURE_KEYS and not k.startswith("_")}
    return value


def check_compatible(base: ModelSpec, finetuned: ModelSpec) -> dict:
    """Refuse a pair whose architectures, keys, shapes or dtypes differ; describe it otherwise."""
    fmt = base.backend
    folders = {"base": checkpoint_folder(base), "finetuned": checkpoint_folder(finetuned)}
    who = f"interpolation of '{base.name}' (base) and '{finetuned.name}' (fine-tuned)"
    arch = {role: architecture(folder, fmt) for role, folder in folders.items()}
    differing = sorted(k for k in set(arch["base"]) | set(arch["finetuned"])
                       if arch["base"].get(k) != arch["finetuned"].get(k))
    if differing:
        raise InterpolationError(f"{who}: refused, the architectures differ in {ARCHITECTURE_FILE[fmt]} "
                                 f"({', '.join(differing[:5])})")
    sig = {role: tensor_signature(folder, fmt) for role, folder in folders.items()}
    only_base = sorted(set(sig["base"]) - set(sig["finetuned"]))
    only_ft = sorted(set(sig["finetuned"]) - set(sig["base"]))
    if only_base or only_ft:
        raise InterpolationError(f"{who}: refused, the parameter names differ (only in base: {only_base[:5]}"
                                 f"{'…' if len(only_base) > 5 else ''}; only in fine-tuned: {only_ft[:5]}"
                                 f"{'…' if len(only_ft) > 5 else ''})")
    mismatched = [f"{k}: {sig['base'][k]} vs {sig['finetuned'][k]}" for k in sorted(sig["base"])
                  if sig["base"][k] != sig["finetuned"][k]]
    if mismatched:
        raise InterpolationError(f"{who}: refused, {len(mismatched)} tensors differ in dtype or shape "
                                 f"({'; '.join(mismatched[:3])})")
    return {"format": fmt, "tensors": len(sig["base"]),
            "parameters": sum(_numel(shape) for _, shape in sig["base"].values()),
            "folders": {role: str(folder) for role, folder in folders.items()}}


def _numel(shape) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _load_bin(path: Path) -> dict:
    import torch

    return torch.load(str(path), map_location="cpu", weights_only=True)


def load_state(folder: Path, fmt: str) -> dict:
    state = {}
    for path in weight_files(folder, fmt):
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(str(path)))
        else:
            state.update(_load_bin(path))
    return state


def combine(base: dict, finetuned: dict, alpha: float) -> dict:
    """(1 − α)·base + α·ft per floating-point tensor, computed in float32 and cast back.
    At α = 0 and α = 1 the result equals an input exactly (0·x + y = y). Integer buffers (position
    ids) must agree and are kept."""
    import torch

    out = {}
    for key, b in base.items():
        f = finetuned[key]
        if b.is_floating_point():
            mixed = (1.0 - alpha) * b.to(torch.float32) + alpha * f.to(torch.float32)
            out[key] = mixed.to(b.dtype).contiguous()
        elif torch.equal(b, f):
            out[key] = b.contiguous()
        else:
            raise InterpolationError(f"non-float tensor {key} differs between base and fine-tuned")
    return out


def interpolate(pair: Pair, alpha: float, out: Path) -> dict:
    """Write θ(α) as a checkpoint folder in the base's format, with a manifest and a catalog entry."""
    from safetensors.torch import save_file

    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"interpolation '{pair.name}': alpha {alpha} is outside [0, 1]")
    check = check_compatible(pair.base, pair.finetuned)
    fmt = check["format"]
    base_folder, ft_folder = Path(check["folders"]["base"]), Path(check["folders"]["finetuned"])
    state = combine(load_state(base_folder, fmt), load_state(ft_folder, fmt), alpha)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # Everything but the weights (configs, tokenizer, processor) comes from the base model.
    weights = {p.name for p in weight_files(base_folder, fmt)} | set(WEIGHT_FILES[fmt])
    for item in base_folder.iterdir():
        if item.is_file() and item.name not in weights and item.name != "mubench_build.json":
            shutil.copy(item, partial / item.name)
    save_file(state, str(partial / OUTPUT_FILE[fmt]), metadata={"format": "pt"})
    manifest = {
        "name": pair.derived_name(alpha), "interpolation": pair.name, "alpha": alpha,
        "formula": "(1 - alpha) * base + alpha * finetuned, per floating-point tensor, in float32",
        "format": fmt, "tensors": check["tensors"], "parameters": check["parameters"],
        "parents": {role: {"model": spec.name, "weights": spec.weights, "revision": spec.revision,
                           "resolved_revision": revision_of_snapshot(Path(check["folders"][role])),
                           "folder": check["folders"][role]}
                    for role, spec in (("base", pair.base), ("finetuned", pair.finetuned))},
        "sha256": hashlib.sha256((partial / OUTPUT_FILE[fmt]).read_bytes()).hexdigest(),
    }
    (partial / "interpolation.json").write_text(json.dumps(manifest, indent=2))
    spec = derived_spec(pair, alpha, out)
    entry = {k: v for k, v in vars(spec).items() if k != "name" and v not in (None, {}, [])}
    (partial / "catalog.yaml").write_text(json.dumps({"models": {spec.name: entry}}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return manifest
