# Offline staging. Compute nodes have no internet: `snakemake stage` runs on the login node (local
# rules) and downloads the dataset (prepare) and each selected model's weights at its pinned
# revision into the shared hub cache (HF_HOME). Evaluation jobs then run with the hub offline and
# fail at once, naming the model, if a model was not staged.

localrules:
    stage,
    stage_weights,
    prepare,
    build_demo_data,


rule stage_weights:
    output:
        f"{RESULTS}/.staged/{{model}}.json",
    log:
        f"{RESULTS}/logs/stage/{{model}}.log",
    container:
        get_model_container
    params:
        catalog=config["catalog"],
    shell:
        # the images default to offline (HF_HUB_OFFLINE=1): staging is the one step that downloads
        "HF_HUB_OFFLINE=0 mubench stage --catalog {params.catalog} --model {wildcards.model} "
        "--out {output} > {log} 2>&1"


rule stage:
    input:
        MANIFEST,
        expand(f"{RESULTS}/.staged/{{model}}.json", model=get_models_to_stage()),
    output:
        touch(f"{RESULTS}/.staged/all.done"),
    log:
        f"{RESULTS}/logs/stage/all.log",
