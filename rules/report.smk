# The manuscript: every group figure and table of the other stages, the configuration as
# run and the software versions, listed with checksums and captions in one manifest.
# `snakemake --cores 8 manuscript` builds it all; `snakemake --report results/report.html`
# then packages the registered figures and tables with their captions.


rule provenance:
    output:
        config=report(
            "results/provenance/config.yaml",
            caption="../report/provenance/config.rst",
            category="Provenance",
        ),
        versions=report(
            "results/provenance/software_versions.tsv",
            caption="../report/provenance/versions.rst",
            category="Provenance",
        ),
    log:
        "results/logs/provenance.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
    script:
        "../scripts/provenance.py"


rule manuscript:
    input:
        manuscript_files,
    output:
        table="results/manuscript/manifest.tsv",
        page=report(
            "results/manuscript/manifest.md",
            caption="../report/provenance/manifest.rst",
            category="Provenance",
        ),
    log:
        "results/logs/manuscript.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        entries=manuscript_entries,
    script:
        "../scripts/manuscript.py"
