# One job per model × task. GPU count, memory and runtime come from the model catalog.


rule evaluate:
    input:
        manifest=MANIFEST,
        weights=get_weights_input,
    output:
        predictions=f"{RESULTS}/{{model}}/{{task}}/predictions.jsonl",
        score=f"{RESULTS}/{{model}}/{{task}}/score.json",
    log:
        f"{RESULTS}/logs/evaluate/{{model}}/{{task}}.log",
    resources:
        gpu=get_model_resource("gpus"),
        mem_mb=get_model_resource("mem_mb"),
        runtime=get_model_resource("runtime_min"),
    params:
        catalog=config["catalog"],
        seed=config["seed"],
        device=config["device"],
        out=lambda wildcards, output: str(Path(output.score).parent),
        text_cache=lambda wildcards: f"{RESULTS}/{wildcards.model}/.text-cache",
    shell:
        "mubench evaluate --catalog {params.catalog} --model {wildcards.model} --task {wildcards.task} "
        "--data {DATA_DIR} --out {params.out} --seed {params.seed} --device {params.device} "
        "--text-cache {params.text_cache} > {log} 2>&1"
