# μ-Bench: model × task evaluation DAG. See README.md and config/README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/stage.smk"
include: "rules/models.smk"
include: "rules/interpolate.smk"
include: "rules/evaluate.smk"
include: "rules/merge.smk"
include: "rules/report.smk"


rule all:
    input:
        get_final_outputs,
    default_target: True
