# Weights built locally from a catalog recipe (random-weight models for the demo and tests).


rule build_model:
    output:
        directory(f"{BUILT_MODELS_DIR}/{{model}}"),
    log:
        "logs/build_model/{model}.log",
    container:
        get_model_container
    params:
        catalog=config["catalog"],
    shell:
        "mubench build-model --catalog {params.catalog} --model {wildcards.model} --out {output} > {log} 2>&1"
