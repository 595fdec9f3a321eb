# Planning the multi-site follow-up trial: power and sample size by simulating many trials
# and analysing each with the workflow's own tests (tmstarget.power). It needs no data:
# `snakemake --cores 8 plan_trial` builds it; the main run does too with planning.enabled.


rule simulate_power:
    output:
        tables=[
            report(
                f"results/planning/tables/{table}.tsv",
                caption=f"../report/planning/{table}.rst",
                category="Trial planning",
                subcategory="Tables",
                labels={"table": table},
            )
            for table in POWER_TABLES
        ],
        journal_tables=expand(
            "results/planning/tables/{table}.{ext}",
            table=POWER_TABLES,
            ext=["md", "tex"],
        ),
        source_data=expand(
            "results/planning/source_data/{name}.tsv", name=POWER_SOURCE_DATA
        ),
    log:
        "results/logs/simulate_power.log",
    benchmark:
        "results/benchmarks/simulate_power.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 8
    resources:
        mem_mb=power_memory,
        runtime=30,
    params:
        planning={
            key: value for key, value in config["planning"].items() if key != "enabled"
        },
        outcomes={
            key: config["outcomes"][key]
            for key in ("primary_analysis", "missing_policy", "mann_whitney_method")
        },
    script:
        "../scripts/simulate_power.py"


rule plot_power:
    input:
        curves="results/planning/source_data/power_curves.tsv",
    output:
        figure=report(
            "results/planning/figures/power_curves.png",
            caption="../report/planning/power_curves.rst",
            category="Trial planning",
            subcategory="Figures",
            labels={"figure": "power_curves"},
        ),
        vector_figure="results/planning/figures/power_curves.pdf",
    log:
        "results/logs/plot_power.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        power_targets=config["planning"]["power_targets"],
        confidence=config["planning"]["confidence"],
        alpha=config["planning"]["alpha"],
    script:
        "../scripts/plot_power.py"


rule plan_trial:
    input:
        rules.simulate_power.output,
        rules.plot_power.output,
    log:
        "results/logs/plan_trial.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
