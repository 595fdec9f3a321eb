# Demo cohort and input checks. The demo (demo.enabled) is a simulated trial written as a
# BIDS dataset with fMRIPrep derivatives, every file of it known from the config; later
# stages read it exactly as they read real data, after rule check_inputs has checked it.
if DEMO:

    rule simulate_cohort:
        output:
            # every file the demo writes (tmstarget.demo.planned_files)
            dataset=_demo_files(),
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
            mem_mb=demo_memory,
            runtime=demo_runtime,
        params:
            # the dataset's root: the folder of its dataset_description.json
            bids_dir=demo_root,
            demo=config["demo"],
            arm_labels=config["trial"]["arm_labels"],
        script:
            "../scripts/simulate_cohort.py"


rule check_inputs:
    input:
        # what the checks read (the demo's files come from rule simulate_cohort)
        checked_input_files,
    output:
        inventory=report(
            "results/inputs/inventory.tsv",
            caption="../report/inventory.rst",
            category="Inputs",
        ),
        subjects=report(
            SUBJECTS_TABLE,
            caption="../report/subjects.rst",
            category="Inputs",
        ),
        subjects_dictionary=SUBJECTS_TABLE.replace(".tsv", ".json"),
    log:
        "results/logs/check_inputs.log",
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        bids_dir=BIDS_DIR,
        fmriprep_dir=FMRIPREP_DIR,
        # What the workflow reads (rules/common.smk): the same discovery and checks.
        query=QUERY,
        settings=CHECK_SETTINGS,
        fingerprint=INPUTS_FINGERPRINT,
        demo=config["demo"] if DEMO else None,
        arm_labels=config["trial"]["arm_labels"],
    script:
        "../scripts/check_inputs.py"
