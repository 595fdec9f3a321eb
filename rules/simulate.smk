# Demo cohort: a simulated trial written as a BIDS dataset with fMRIPrep-style derivatives.
# Only defined when demo.enabled; later stages read it exactly as they read real data.
if DEMO:

    checkpoint simulate_cohort:
        output:
            bids_dir=directory(BIDS_DIR),
        log:
            "results/logs/simulate_cohort.log",
        benchmark:
            "results/benchmarks/simulate_cohort.tsv"
        conda:
            "../envs/tmstarget.yaml"
        threads: 4
        resources:
            # Enough for every thread to simulate one subject at once (7 GB per
            # thread at full scale); the script uses fewer processes if given less.
            # No input to scale with: both follow the demo's size in the config.
            mem_mb=lambda wildcards, threads, attempt: demo_memory_mb(threads, attempt),
            runtime=lambda wildcards, threads, attempt: demo_runtime_min(
                threads, attempt
            ),
        params:
            demo=config["demo"],
            arm_labels=config["trial"]["arm_labels"],
        script:
            "../scripts/simulate_cohort.py"


rule index_inputs:
    input:
        # The demo checkpoint's output, or the user's dataset (no rule makes it).
        bids_dir=BIDS_DIR,
    output:
        inventory=report(
            "results/inputs/inventory.tsv",
            caption="../report/inventory.rst",
            category="Inputs",
        ),
    log:
        "results/logs/index_inputs.log",
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        fmriprep_dir=FMRIPREP_DIR,
        # What the workflow reads (rules/common.smk): the same discovery.
        query=QUERY,
    script:
        "../scripts/index_inputs.py"
