#!/usr/bin/env python3
"""Build a real SIF image from a `Bootstrap: debootstrap` definition file, without Apptainer.

Apptainer cannot be installed on the CI machines (docs/cluster.md), yet the containerised path of the
workflow must be exercised there. This script follows the steps `apptainer build` takes for such a
definition: debootstrap the rootfs, copy %files, run %post inside the rootfs (bubblewrap), write
%environment and %labels where Apptainer keeps them (/.singularity.d), squash the rootfs and pack it
into a SIF with siftool (definition as data object 1, squashfs as the primary system partition).
It supports only what containers/core.def uses; real clusters build with scripts/build-containers.sh.

    python3 scripts/build_sif_without_apptainer.py containers/core.def OUT.sif [--pip-cache DIR]

Needs root, debootstrap, bubblewrap, squashfs-tools and siftool (installed with apt when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = {"debootstrap": "debootstrap", "bwrap": "bubblewrap", "mksquashfs": "squashfs-tools",
         "siftool": "siftool"}
SUPPORTED_SECTIONS = {"files", "post", "environment", "labels", "test", "help"}


def parse_definition(path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Header keys and section bodies of an Apptainer definition file."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("%"):
            current = line[1:].split()[0]
            if current not in SUPPORTED_SECTIONS:
                sys.exit(f"{path}: section %{current} is not supported by this builder")
            sections[current] = []
        elif current is not None:
            sections[current].append(raw)
        elif line and not line.startswith("#"):
            key, _, value = line.partition(":")
            header[key.strip().lower()] = value.strip()
    if header.get("bootstrap") != "debootstrap":
        sys.exit(f"{path}: only 'Bootstrap: debootstrap' can be built without Apptainer")
    return header, sections


def ensure_tools() -> None:
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


BUILD_HOST = "/.build-host"  # host paths lent to %post; only empty mount points remain, removed after
PROXY_VARIABLES = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}


def host_pip_settings() -> dict[str, str]:
    """pip's settings on this host (config files and PIP_* variables) as PIP_* variables."""
    settings = {}
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        key, _, value = line.partition("=")
        if "." in key and value:
            settings["PIP_" + key.split(".", 1)[1].upper().replace("-", "_")] = value.strip("'\"")
    settings.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    return settings


def host_network(pip_cache: Path | None) -> tuple[list[str], dict[str, str]]:
    """Binds and variables that let %post reach the network the way this host does: same proxies, CA
    bundle, package indexes, wheel folders and constraints (CI machines sit behind a TLS proxy)."""
    binds: list[str] = []
    env = {k: v for k, v in os.environ.items() if k.lower() in PROXY_VARIABLES}

    def lend(match: re.Match) -> str:
        path = match.group(2)
        if not Path(path).exists():
            return match.group(0)
        # a file:// index links its files relative to itself (../files/...): lend its parent folder
        lent = str(Path(path).parent) if match.group(1) else path
        binds.extend(["--ro-bind", lent, BUILD_HOST + lent])
        return (match.group(1) or "") + BUILD_HOST + path

    for name, value in host_pip_settings().items():
        env[name] = re.sub(r"(file://)?(/[^\s]+)", lend, value)
    ca_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if ca_bundle.exists():
        binds.extend(["--ro-bind", str(ca_bundle), BUILD_HOST + str(ca_bundle)])
        env.setdefault("PIP_CERT", BUILD_HOST + str(ca_bundle))
        env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = BUILD_HOST + str(ca_bundle)
    if pip_cache is not None:
        pip_cache.mkdir(parents=True, exist_ok=True)
        binds.extend(["--bind", str(pip_cache), BUILD_HOST + "/pip-cache"])
        env["PIP_CACHE_DIR"] = BUILD_HOST + "/pip-cache"
    return binds, env


def remove_mount_points(rootfs: Path) -> None:
    """bubblewrap leaves the (now unmounted, empty) mount points it created under BUILD_HOST."""
    top = rootfs / BUILD_HOST.lstrip("/")
    if not top.exists():
        return
    for folder, dirs, files in os.walk(top, topdown=False):
        for name in files:
            path = Path(folder) / name
            if path.stat().st_size == 0:
                path.unlink()
        for name in dirs:
            (Path(folder) / name).rmdir()  # fails loudly if anything real was left behind
    top.rmdir()


def run_in_rootfs(rootfs: Path, script: str, pip_cache: Path | None = None, network: bool = False) -> None:
    command = ["bwrap", "--bind", str(rootfs), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf", "--chdir", "/"]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8"}
    if network:
        binds, network_env = host_network(pip_cache)
        command += binds
        env.update(network_env)
    try:
        subprocess.run([*command, "/bin/sh", "-e", "-x", "-c", script], check=True, env=env)
    finally:
        remove_mount_points(rootfs)


def git_hash(repo: Path) -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def build(definition: Path, output: Path, pip_cache: Path | None) -> None:
    header, sections = parse_definition(definition)
    ensure_tools()
    context = definition.resolve().parent.parent  # %files paths are relative to the repository root
    with tempfile.TemporaryDirectory(prefix="sif-build-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        include = ",".join(header.get("include", "").split())
        subprocess.run(["debootstrap", "--variant=minbase", *([f"--include={include}"] if include else []),
                        header["osversion"], str(rootfs), header.get("mirrorurl", "http://deb.debian.org/debian")],
                       check=True, stdout=subprocess.DEVNULL)
        for line in sections.get("files", []):
            if line.strip():
                source, target = line.split()
                destination = rootfs / target.lstrip("/")
                destination.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if (context / source).is_dir() else shutil.copy)(context / source, destination)
                if (destination / "__init__.py").exists():
                    (destination / "GIT_HASH").write_text(git_hash(context))  # as build-containers.sh does
        meta = rootfs / ".singularity.d"
        (meta / "env").mkdir(parents=True, exist_ok=True)
        (meta / "env" / "90-environment.sh").write_text("\n".join(sections.get("environment", [])) + "\n")
        labels = dict(line.split(None, 1) for line in sections.get("labels", []) if line.strip())
        (meta / "labels.json").write_text(json.dumps(labels, indent=1))
        shutil.copy(definition, meta / "Singularity")
        run_in_rootfs(rootfs, "\n".join(sections.get("post", [])), pip_cache, network=True)
        if sections.get("test"):
            run_in_rootfs(rootfs, ". /.singularity.d/env/90-environment.sh\n" + "\n".join(sections["test"]))
        squashfs = Path(tmp) / "rootfs.squashfs"
        subprocess.run(["mksquashfs", str(rootfs), str(squashfs), "-noappend", "-comp", "gzip", "-quiet",
                        "-no-progress"], check=True)
        partial = output.with_suffix(".sif.partial")
        partial.unlink(missing_ok=True)
        subprocess.run(["siftool", "new", str(partial)], check=True)
        subprocess.run(["siftool", "add", "--datatype", "1", str(partial), str(definition)], check=True)
        subprocess.run(["siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch",
                        "2", str(partial), str(squashfs)], check=True)
        partial.rename(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--pip-cache", type=Path, help="host folder reused as pip's cache during %%post")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("build_sif_without_apptainer: needs root (debootstrap)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    build(args.definition, args.output, args.pip_cache)
    print(args.output)


if __name__ == "__main__":
    main()
