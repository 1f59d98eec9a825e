# One job per model × task. GPU count, memory and runtime come from the model catalog.
# A model that fails (missing weights, out of memory, unsupported architecture) writes a failed
# score.json for its own cells; the tables still build and sweep_status reports the failure.


rule evaluate:
    input:
        manifest=MANIFEST,
        weights=get_weights_input,
        interpolation_checks=get_interpolation_checks,
    output:
        predictions=f"{RESULTS}/{{model}}/{{task}}/predictions.jsonl",
        score=f"{RESULTS}/{{model}}/{{task}}/score.json",
    log:
        f"{RESULTS}/logs/evaluate/{{model}}/{{task}}.log",
    container:
        get_model_container
    resources:
        gpu=get_model_resource("gpus"),
        gpu_model=get_model_resource("gpu_model"),
        mem_mb=get_scaled_model_resource("mem_mb"),
        runtime=get_scaled_model_resource("runtime_min"),
    params:
        catalog=get_catalog,
        seed=config["seed"],
        device=config["device"],
        out=lambda wildcards, output: str(Path(output.score).parent),
        text_cache=lambda wildcards: f"{RESULTS}/{wildcards.model}/.text-cache",
        # Outside the declared outputs, so a killed or failed job's finished batches survive.
        journal=lambda wildcards: f"{RESULTS}/.journal/{wildcards.model}/{wildcards.task}.jsonl",
        failure_marker=get_failure_marker,
        # Changes whenever the cell fails, so the next run retries it (params rerun trigger).
        retry_token=get_retry_token,
        hub_offline=1 if config["offline_evaluation"] else 0,
    shell:
        "HF_HUB_OFFLINE={params.hub_offline} mubench evaluate --catalog {params.catalog} --model {wildcards.model} --task {wildcards.task} "
        "--data {DATA_DIR} --out {params.out} --seed {params.seed} --device {params.device} "
        "--text-cache {params.text_cache} --journal {params.journal} "
        "--record-failure --failure-marker {params.failure_marker} > {log} 2>&1"
