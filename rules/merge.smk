# Merge every job's score.json into the paper's tables.


rule merge:
    input:
        get_score_files,
    output:
        TABLES,
    log:
        f"{RESULTS}/logs/merge.log",
    params:
        out=f"{RESULTS}/tables",
        boot=config["bootstrap"],
    shell:
        "mubench merge --out {params.out} --n-resamples {params.boot[n_resamples]} "
        "--confidence-level {params.boot[confidence_level]} --bootstrap-seed {params.boot[seed]} "
        "--bootstrap-engine {params.boot[engine]} {input} > {log} 2>&1"
