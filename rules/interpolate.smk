# Weight interpolation (config `interpolations`): θ(α) = (1−α)·θ_base + α·θ_finetuned becomes a
# model named <name>-a<α> and is evaluated on every task like any other. Each pair is checked
# (format, architecture, keys, shapes, dtypes) before any evaluation job of the sweep starts.


rule check_interpolation:
    input:
        get_pair_weights_input,
    output:
        f"{RESULTS}/interpolation/{{pair}}/check.json",
    log:
        f"{RESULTS}/logs/interpolation/{{pair}}/check.log",
    container:
        lambda wildcards: container_for(runtime_of(get_pair(wildcards).base.backend))
    params:
        catalog=config["catalog"],
        pair=get_pair,
        hub_offline=1 if config["offline_evaluation"] else 0,
    shell:
        "HF_HUB_OFFLINE={params.hub_offline} mubench interpolate --check-only --catalog {params.catalog} "
        "--name {wildcards.pair} --base {params.pair.base.name} --finetuned {params.pair.finetuned.name} "
        "--out {output} > {log} 2>&1"


rule interpolate:
    input:
        check=lambda wildcards: f"{RESULTS}/interpolation/{get_pair(wildcards).name}/check.json",
        weights=get_pair_weights_input,
    output:
        directory(f"{INTERPOLATED_DIR}/{{model}}"),
    log:
        "logs/interpolate/{model}.log",
    container:
        get_model_container
    resources:
        mem_mb=get_scaled_model_resource("mem_mb"),
    params:
        catalog=config["catalog"],
        pair=get_pair,
        alpha=lambda wildcards: INTERPOLATED[wildcards.model][1],
        hub_offline=1 if config["offline_evaluation"] else 0,
    shell:
        "HF_HUB_OFFLINE={params.hub_offline} mubench interpolate --catalog {params.catalog} "
        "--name {params.pair.name} --base {params.pair.base.name} --finetuned {params.pair.finetuned.name} "
        "--alpha {params.alpha} --out {output} > {log} 2>&1"


rule interpolation_report:
    input:
        lambda wildcards: [f"{RESULTS}/{model}/{task}/score.json" for model in INTERPOLATED
                           for task in get_tasks()],
    output:
        tables=INTERPOLATION_TABLES,
        plot=report(INTERPOLATION_PLOTS[0], caption="report/interpolation.rst", category="Figures"),
        svg=INTERPOLATION_PLOTS[1],
    log:
        f"{RESULTS}/logs/interpolation/report.log",
    container:
        container_for("core")
    params:
        pairs=" ".join(f"--pair {pair.name}" for pair in PLAN.pairs),
        tables=f"{RESULTS}/tables",
        plots=f"{RESULTS}/plots",
    shell:
        "mubench interpolation-report {params.pairs} --tables {params.tables} --plots {params.plots} "
        "{input} > {log} 2>&1"
