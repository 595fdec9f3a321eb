# Split-half reliability of the targets and the scan-length curve: each subject's series is
# loaded once and its halves and first k minutes are targeted; then the group analysis.
RELIABILITY = config["reliability"]
RELIABILITY_DIR = "results/reliability"
SUBJECT_RELIABILITY = (
    RELIABILITY_DIR + "/sub-{subject}/sub-{subject}_desc-reliability_targets.tsv"
)


rule split_half_targets:
    input:
        bold=CLEAN_BOLD,
        mask=CLEAN_MASK,
    output:
        SUBJECT_RELIABILITY,
    log:
        "results/logs/split_half_targets/sub-{subject}.log",
    benchmark:
        "results/benchmarks/split_half_targets/sub-{subject}.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        reliability=RELIABILITY,
        targets=TARGETS,
        repetition_time_s=lambda wildcards: subject_runs(wildcards)[0].repetition_time_s,
    script:
        "../scripts/split_half_targets.py"


rule analyse_reliability:
    input:
        targets=lambda wildcards: expand(SUBJECT_RELIABILITY, subject=subjects()),
        mask=lambda wildcards: expand(CLEAN_MASK, subject=subjects()[0]),
    output:
        tables=[
            report(
                f"{RELIABILITY_DIR}/tables/{name}.tsv",
                caption=f"../report/reliability/{name}.rst",
                category="Reliability",
                subcategory="Tables",
            )
            for name in ("reliability", "scan_length")
        ],
        journal=expand(
            RELIABILITY_DIR + "/tables/{name}.{ext}",
            name=["reliability", "scan_length"],
            ext=["md", "tex"],
        ),
        source_data=expand(
            RELIABILITY_DIR + "/source_data/{name}.tsv",
            name=["targets", "distances", "per_subject", "curve", "needed"],
        ),
        figures=[
            report(
                f"{RELIABILITY_DIR}/figures/{name}.png",
                caption=f"../report/reliability/{name}_figure.rst",
                category="Reliability",
                subcategory="Figures",
            )
            for name in ("within_between", "scan_length")
        ],
        vector_figures=expand(
            RELIABILITY_DIR + "/figures/{name}.pdf",
            name=["within_between", "scan_length"],
        ),
    log:
        "results/logs/analyse_reliability.log",
    conda:
        "../envs/tmstarget.yaml"
    params:
        reliability=RELIABILITY,
    script:
        "../scripts/analyse_reliability.py"
