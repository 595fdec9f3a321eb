# Trial outcome analysis: every number of the manuscript's outcome tables, computed from
# participants.tsv and phenotype/, and the figures drawn from the saved source data.


rule analyse_outcomes:
    input:
        participants=PARTICIPANTS_TSV,
        clinical=existing(CLINICAL_TABLES[1:]),
        checked=ancient(SUBJECTS_TABLE),
    output:
        tables=[
            report(
                f"results/outcomes/tables/{table}.tsv",
                caption=f"../report/outcomes/{table}.rst",
                category="Trial outcomes",
                subcategory="Tables",
                labels={"table": table},
            )
            for table in OUTCOME_TABLES
        ],
        journal_tables=expand(
            "results/outcomes/tables/{table}.{ext}",
            table=OUTCOME_TABLES,
            ext=["md", "tex"],
        ),
        source_data=expand(
            "results/outcomes/source_data/{name}.tsv", name=OUTCOME_SOURCE_DATA
        ),
    log:
        "results/logs/analyse_outcomes.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        arm_labels=config["trial"]["arm_labels"],
        outcomes=config["outcomes"],
    script:
        "../scripts/analyse_outcomes.py"


rule plot_outcomes:
    input:
        source_data=rules.analyse_outcomes.output.source_data,
    output:
        figures=[
            report(
                f"results/outcomes/figures/{figure}.png",
                caption=f"../report/outcomes/{figure}.rst",
                category="Trial outcomes",
                subcategory="Figures",
                labels={"figure": figure},
            )
            for figure in OUTCOME_FIGURES
        ],
        vector_figures=expand(
            "results/outcomes/figures/{figure}.pdf", figure=OUTCOME_FIGURES
        ),
    log:
        "results/logs/plot_outcomes.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        outcomes=config["outcomes"],
    script:
        "../scripts/plot_outcomes.py"


# Mechanism: does the circuit connectivity of the site actually stimulated, or the distance
# between the connectivity target and Beam F3, go with the clinical outcome?


rule analyse_mechanism:
    input:
        distances=rules.collect_targets.output.distances,
        participants=PARTICIPANTS_TSV,
        clinical=existing(CLINICAL_TABLES[1:]),
    output:
        table=report(
            "results/outcomes/tables/table4_mechanism.tsv",
            caption="../report/outcomes/table4_mechanism.rst",
            category="Trial outcomes",
            subcategory="Tables",
            labels={"table": "table4_mechanism"},
        ),
        journal=expand(
            "results/outcomes/tables/table4_mechanism.{ext}", ext=["md", "tex"]
        ),
        source_data="results/outcomes/source_data/mechanism.tsv",
        figure=report(
            "results/outcomes/figures/mechanism.png",
            caption="../report/outcomes/mechanism.rst",
            category="Trial outcomes",
            subcategory="Figures",
            labels={"figure": "mechanism"},
        ),
        vector_figure="results/outcomes/figures/mechanism.pdf",
    log:
        "results/logs/analyse_mechanism.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        arm_labels=config["trial"]["arm_labels"],
        outcomes=config["outcomes"],
    script:
        "../scripts/analyse_mechanism.py"
