"""The ``mubench`` command line: what every workflow rule calls, on a laptop, in a SLURM job
or inside a container."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from mubench import __version__
from mubench.errors import MubenchError


def _cmd_build_demo(args) -> None:
    from mubench.data.demo import build_demo

    print(json.dumps(build_demo(Path(args.out), Path(args.sources), seed=args.seed, shards=args.shards)))


def _cmd_prepare(args) -> None:
    from mubench.data.prepare import prepare

    manifest = prepare(args.source, args.path, Path(args.out), revision=args.revision,
                       include_extra=args.include_extra, verify=not args.no_verify)
    print(json.dumps({k: manifest[k] for k in ("rows_read", "rows_kept", "rows_dropped", "questions")}))


def _cmd_build_model(args) -> None:
    from mubench.build import build_model
    from mubench.catalog import Catalog

    spec = Catalog.load(args.catalog).get(args.model)
    print(build_model(spec, Path(args.out) if args.out else None))


def _cmd_evaluate(args) -> None:
    from mubench.evaluate import evaluate, record_failure
    from mubench.journal import JournalLocked

    try:
        score = evaluate(model=args.model, task=args.task, catalog_path=args.catalog, data_dir=args.data,
                         out_dir=args.out, seed=args.seed, device=args.device, batch_size=args.batch_size,
                         text_cache_dir=args.text_cache, journal_path=args.journal)
    except JournalLocked:
        raise
    except Exception as exc:  # noqa: BLE001 - any model failure must fail only its own cell
        if not args.record_failure:
            raise
        logging.getLogger("mubench").exception("evaluation of %s on %s failed", args.model, args.task)
        score = record_failure(model=args.model, task=args.task, out_dir=args.out, exc=exc,
                               catalog_path=args.catalog, marker=args.failure_marker)
        print(json.dumps({k: score[k] for k in ("model", "task", "status", "error")}))
        return
    print(json.dumps({k: score[k] for k in ("model", "task", "counts", "accuracy")}))


def _cmd_stage(args) -> None:
    from mubench.catalog import Catalog
    from mubench.weights import stage

    catalog = Catalog.load(args.catalog)
    records = [stage(catalog.get(name)) for name in args.model]
    text = json.dumps(records if len(records) > 1 else records[0], indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)


def _cmd_interpolate(args) -> None:
    from mubench.catalog import Catalog
    from mubench.interpolate import check_compatible, interpolate, pair_from_config

    catalog = Catalog.load(args.catalog)
    alphas = [args.alpha] if args.alpha is not None else [0.0]
    pair = pair_from_config({"name": args.name, "base": args.base, "finetuned": args.finetuned,
                             "alphas": alphas}, catalog, "command line")
    if args.check_only:
        result = check_compatible(pair.base, pair.finetuned)
        result.update(interpolation=pair.name, base=pair.base.name, finetuned=pair.finetuned.name)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    else:
        if args.alpha is None:
            raise SystemExit("mubench interpolate: --alpha is required unless --check-only")
        result = interpolate(pair, args.alpha, Path(args.out))
    print(json.dumps(result, indent=2))


def _cmd_interpolation_report(args) -> None:
    from mubench.interpolation_report import interpolation_report

    rows = interpolation_report(args.scores, args.pair, args.tables, args.plots)
    print(json.dumps({"rows": len(rows)}))


def _bootstrap_settings(args):
    from mubench.merge import BootstrapSettings

    return BootstrapSettings(args.n_resamples, args.confidence_level, args.bootstrap_seed, args.bootstrap_engine)


def _cmd_report(args) -> None:
    from mubench.report import build_report

    index = build_report(args.scores, args.data, args.out, _bootstrap_settings(args), set(args.cognition_task))
    print(json.dumps({"tables": len(index["tables"]), "files": len(index["files"])}))


def _cmd_merge(args) -> None:
    from mubench.merge import merge

    summary = merge(args.scores, args.out, _bootstrap_settings(args), set(args.cognition_task))
    print(json.dumps({"jobs": summary["jobs"], "models": len(summary["models"]), "tasks": len(summary["tasks"])}))


def _cmd_status(args) -> None:
    from mubench.status import sweep_status

    report = sweep_status(Path(args.results), config_path=args.config)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    for cell in report["cells"]:
        detail = cell.get("reason") or (f"{cell['progress']:.0%}" if cell["state"] == "partial" else "")
        print(f"{cell['state']:8} {cell['model']:32} {cell['task']:40} {detail}")
    print(" ".join(f"{state}={n}" for state, n in report["counts"].items()))
    if args.strict and report["counts"].get("failed", 0):
        raise SystemExit(1)


def _cmd_validate(args) -> None:
    from mubench.workflow import load_workflow_config

    config, plan = load_workflow_config(args.config, overrides=args.set or [])
    print(json.dumps({"models": config["models"], "tasks": plan.tasks, "jobs": len(plan.jobs())}, indent=2))


def _add_bootstrap_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-resamples", type=int, default=9999)
    p.add_argument("--confidence-level", type=float, default=0.95)
    p.add_argument("--bootstrap-seed", type=int, default=0)
    p.add_argument("--bootstrap-engine", choices=["binomial", "scipy"], default="binomial")
    p.add_argument("--cognition-task", action="append", default=[],
                   help="a task holding a user-supplied cognition set (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mubench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mubench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-demo", help="build the offline demo dataset (μ-Bench schema and layout)")
    p.add_argument("--out", required=True)
    p.add_argument("--sources", default=".cache/demo-sources", help="folder with the stardist wheel")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shards", type=int, default=2)
    p.set_defaults(func=_cmd_build_demo)

    p = sub.add_parser("prepare", help="normalise μ-Bench into one shard per task plus a manifest")
    p.add_argument("--source", choices=["hub", "local", "parquet", "demo"], required=True)
    p.add_argument("--path", help="folder of shards (hub: an existing snapshot)")
    p.add_argument("--out", required=True)
    from mubench.protocol import HUB_REVISION
    p.add_argument("--revision", default=HUB_REVISION)
    p.add_argument("--include-extra", action="store_true", help="keep opencell and GlaS rows")
    p.add_argument("--no-verify", action="store_true", help="skip SHA-256 verification of shards")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("build-model", help="build a catalog model's weights from its config recipe")
    p.add_argument("--catalog", default="config/models.yaml")
    p.add_argument("--model", required=True)
    p.add_argument("--out")
    p.set_defaults(func=_cmd_build_model)

    p = sub.add_parser("evaluate", help="evaluate one model on one task")
    p.add_argument("--catalog", default="config/models.yaml")
    p.add_argument("--model", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--data", required=True, help="prepared data folder (with manifest.json)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--text-cache", help="folder for this model's cached text features (shared by its jobs)")
    p.add_argument("--journal", help="journal file (default: OUT/.journal.jsonl); keep it outside the outputs")
    p.add_argument("--record-failure", action="store_true",
                   help="on a model or data failure, write a failed score.json and exit 0 (used by the workflow)")
    p.add_argument("--failure-marker", help="with --record-failure: file that records each failure's id")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("stage", help="download models' weights at their pinned revisions (login node)")
    p.add_argument("--catalog", default="config/models.yaml")
    p.add_argument("--model", action="append", required=True, help="catalog name (repeatable)")
    p.add_argument("--out", help="write what was staged (JSON) here")
    p.set_defaults(func=_cmd_stage)

    p = sub.add_parser("interpolate", help="write θ(α) = (1−α)·base + α·fine-tuned as a checkpoint folder")
    p.add_argument("--catalog", default="config/models.yaml")
    p.add_argument("--name", required=True, help="the interpolation's name (models are NAME-aALPHA)")
    p.add_argument("--base", required=True)
    p.add_argument("--finetuned", required=True)
    p.add_argument("--alpha", type=float)
    p.add_argument("--check-only", action="store_true", help="only check that the pair can be interpolated")
    p.add_argument("--out", required=True, help="checkpoint folder (or, with --check-only, a JSON file)")
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("interpolation-report", help="accuracy against α: tables and plots")
    p.add_argument("--pair", action="append", required=True, help="interpolation name (repeatable)")
    p.add_argument("--tables", required=True)
    p.add_argument("--plots", required=True)
    p.add_argument("scores", nargs="+")
    p.set_defaults(func=_cmd_interpolation_report)

    p = sub.add_parser("merge", help="merge score.json files into tables")
    p.add_argument("--out", required=True)
    _add_bootstrap_arguments(p)
    p.add_argument("scores", nargs="+")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("report", help="paper-grade tables (CSV/MD/LaTeX/HTML), significance and figures")
    p.add_argument("--data", required=True, help="the prepared data (row metadata for breakdowns)")
    p.add_argument("--out", required=True)
    _add_bootstrap_arguments(p)
    p.add_argument("scores", nargs="+")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("status", help="which model × task cells are done, partial, failed or missing")
    p.add_argument("results", nargs="?", default="results")
    p.add_argument("--config", help="workflow config: list every planned cell, missing ones included")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--strict", action="store_true", help="exit 1 when any cell failed")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("validate", help="validate a workflow config and its catalog; print the plan")
    p.add_argument("config")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a top-level key (YAML value)")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except MubenchError as exc:
        print(f"mubench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
