# Paper-grade tables and figures from every job's results, marked for `snakemake --report`
# (one self-contained HTML file with the tables, figures, captions, job runtimes and provenance).


rule report:
    input:
        scores=get_score_files,
        manifest=MANIFEST,
    output:
        tables=report(directory(f"{RESULTS}/report/tables"), patterns=["{name}.html"],
                      caption="report/tables.rst", category="Tables"),
        plots=report(directory(f"{RESULTS}/report/plots"), patterns=["{name}.png"],
                     caption="report/figures.rst", category="Figures"),
        index=f"{RESULTS}/report/index.json",
    log:
        f"{RESULTS}/logs/report.log",
    container:
        container_for("core")
    params:
        out=f"{RESULTS}/report",
        boot=config["bootstrap"],
        cognition=get_cognition_arguments(),
    shell:
        "mubench report --data {DATA_DIR} --out {params.out} --n-resamples {params.boot[n_resamples]} "
        "--confidence-level {params.boot[confidence_level]} --bootstrap-seed {params.boot[seed]} "
        "--bootstrap-engine {params.boot[engine]} {params.cognition} {input.scores} > {log} 2>&1"
