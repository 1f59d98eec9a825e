# Merge every job's score.json into the paper's tables.


rule merge:
    input:
        get_score_files,
    output:
        TABLES,
    log:
        f"{RESULTS}/logs/merge.log",
    container:
        container_for("core")
    params:
        out=f"{RESULTS}/tables",
        boot=config["bootstrap"],
        cognition=get_cognition_arguments(),
    shell:
        "mubench merge --out {params.out} --n-resamples {params.boot[n_resamples]} "
        "--confidence-level {params.boot[confidence_level]} --bootstrap-seed {params.boot[seed]} "
        "--bootstrap-engine {params.boot[engine]} {params.cognition} {input} > {log} 2>&1"


rule sweep_status:
    input:
        scores=get_score_files,
        tables=TABLES,
    output:
        f"{RESULTS}/sweep_status.json",
    log:
        f"{RESULTS}/logs/sweep_status.log",
    container:
        container_for("core")
    shell:
        # Exits 1 (the sweep fails) when any cell failed; the tables above are kept.
        "mubench status {RESULTS} --json {output} --strict > {log} 2>&1"
