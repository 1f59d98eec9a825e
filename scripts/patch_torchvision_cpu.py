"""Let PyPI's CUDA-built torchvision import beside a CPU-only torch.

Why: on CPU-only machines (CI, laptops) PyPI serves a CUDA build of torchvision whose
compiled ops cannot load against torch's CPU wheel. Its Python parts (transforms, which
open_clip and transformers need) work fine, but ``torchvision/_meta_registrations.py``
registers fake kernels for ops that do not exist and import fails with
``operator torchvision::nms does not exist``. This patch makes those registrations
conditional on the compiled ops being present. It is idempotent and only ever used by
``scripts/setup-env.sh`` when no matching CPU torchvision build applies; GPU installs
(containers, clusters) use matching CUDA wheels and never run it.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

MARKER = "# mubench: fake kernels only when compiled ops exist"
HELPER = f'''
{MARKER}
def _mubench_register_fake(name):
    if torchvision.extension._has_ops():
        return torch.library.register_fake(name)
    return lambda fn: fn

'''


def patch(path: pathlib.Path) -> bool:
    text = path.read_text()
    if MARKER in text:
        return False
    anchor = "import torchvision.extension  # noqa: F401\n"
    if anchor not in text:
        raise SystemExit(f"{path}: unexpected layout, cannot patch (anchor missing)")
    text = text.replace(anchor, anchor + HELPER, 1)
    text = text.replace("@torch.library.register_fake(", "@_mubench_register_fake(")
    path.write_text(text)
    return True


def main() -> None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        raise SystemExit("torchvision is not installed")
    target = pathlib.Path(spec.origin).parent / "_meta_registrations.py"
    changed = patch(target)
    print(f"{'patched' if changed else 'already patched'}: {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
