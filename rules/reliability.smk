# Split-half reliability of the targets and the scan-length curve. Each subject's halves and
# first k minutes are targeted by rule find_targets (rules/targets.smk), which loads the
# series once for every target of the subject; here the group analysis.


rule analyse_reliability:
    input:
        targets=every_subject(SUBJECT_RELIABILITY),
        choices=every_subject(SUBJECT_CHOICES),
        mask=first_subject(CLEAN_MASK),
    output:
        tables=[
            report(
                f"results/reliability/tables/{name}.tsv",
                caption=f"../report/reliability/{name}.rst",
                category="Reliability",
                subcategory="Tables",
            )
            for name in ("reliability", "scan_length", "choice_reliability")
        ],
        journal=expand(
            "results/reliability/tables/{name}.{ext}",
            name=["reliability", "scan_length", "choice_reliability"],
            ext=["md", "tex"],
        ),
        source_data=expand(
            "results/reliability/source_data/{name}.tsv",
            name=[
                "targets",
                "distances",
                "per_subject",
                "curve",
                "needed",
                "choice_targets",
                "choice_summary",
            ],
        ),
        figures=[
            report(
                f"results/reliability/figures/{name}.png",
                caption=f"../report/reliability/{name}_figure.rst",
                category="Reliability",
                subcategory="Figures",
            )
            for name in ("within_between", "scan_length", "choice_reliability")
        ],
        vector_figures=expand(
            "results/reliability/figures/{name}.pdf",
            name=["within_between", "scan_length", "choice_reliability"],
        ),
    log:
        "results/logs/analyse_reliability.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        reliability=RELIABILITY,
    script:
        "../scripts/analyse_reliability.py"
