# Data: the offline demo dataset, then μ-Bench normalised into one shard per task.


rule build_demo_data:
    output:
        directory(DEMO_DATA),
    log:
        "logs/build_demo_data.log",
    container:
        container_for("core")
    params:
        sources=config["data"]["demo_sources"],
        seed=config["seed"],
    shell:
        "mubench build-demo --out {output} --sources {params.sources} --seed {params.seed} > {log} 2>&1"


checkpoint prepare:
    input:
        get_data_source_input,
    output:
        manifest=MANIFEST,
        tasks=directory(f"{DATA_DIR}/tasks"),
    log:
        f"{RESULTS}/logs/prepare.log",
    container:
        container_for("core")
    params:
        source=config["data"]["source"],
        path=get_data_source_path(),
        revision=config["data"]["revision"],
        extra="--include-extra" if config["data"]["include_extra_datasets"] else "",
        verify="" if config["data"]["verify_checksums"] else "--no-verify",
    shell:
        "mubench prepare --source {params.source} --path '{params.path}' --revision {params.revision} "
        "--out {DATA_DIR} {params.extra} {params.verify} > {log} 2>&1"
