# Individual targets: every configured connectivity method, Beam F3 from the head
# measurements, coil positions on the scalp, native coordinates; then the group tables,
# the neuronavigation export and (demo) the recovery of the planted targets.


rule find_targets:
    input:
        bold=CLEAN_BOLD,
        mask=CLEAN_MASK,
        # simulated data: its planted targets are drawn too
        planted=existing([PLANTED_TARGETS]),
        checked=ancient(SUBJECTS_TABLE),
        # template -> T1w (native coordinates of the sites); none: no native coordinates
        template_transforms=subject_template_transforms,
        # run lengths and censored volumes: the bootstrap's blocks stay inside runs
        metrics=QC_METRICS,
    output:
        **(
            {
                "bootstrap_table": f"{SUBJECT_BOOTSTRAP}.tsv",
                "bootstrap_dictionary": f"{SUBJECT_BOOTSTRAP}.json",
                "bootstrap_map": SUBJECT_BOOTSTRAP_MAP,
            }
            if BOOTSTRAP
            else {}
        ),
        targets=SUBJECT_TARGETS,
        targets_dictionary=SUBJECT_TARGETS.replace(".tsv", ".json"),
        # The split-half and first-k-minutes targets: the series is loaded once for all.
        reliability=SUBJECT_RELIABILITY,
        choices=SUBJECT_CHOICES,
        # in TARGETS["methods"] order (find_targets.py pairs them so)
        maps=[score_map(method) for method in TARGETS["methods"]],
        figure=report(
            f"{SUBJECT_FIGURE}.png",
            caption="../report/targets/subject.rst",
            category="Targets",
            subcategory="Subjects",
            labels={"subject": "sub-{subject}"},
        ),
        figure_pdf=f"{SUBJECT_FIGURE}.pdf",
    log:
        "results/logs/find_targets/sub-{subject}.log",
    benchmark:
        "results/benchmarks/find_targets/sub-{subject}.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        # Loading the cleaned series is the peak.
        mem_mb=fitted_memory("find_targets"),
        runtime=fitted_runtime("find_targets"),
    params:
        targets=TARGETS,
        reliability={
            key: config["reliability"][key] for key in SUBJECT_RELIABILITY_KEYS
        },
        repetition_time_s=subject_repetition_time,
        # the subject's own (participants.tsv): editing another row reruns nothing here
        head_cm=head_measurements,
    script:
        "../scripts/find_targets.py"


rule collect_targets:
    input:
        targets=every_subject(SUBJECT_TARGETS),
        participants=PARTICIPANTS_TSV,
    output:
        table=report(
            "results/targets/targets.tsv",
            caption="../report/targets/table.rst",
            category="Targets",
            subcategory="Group",
        ),
        table_dictionary="results/targets/targets.json",
        distances=report(
            "results/targets/arm_distances.tsv",
            caption="../report/targets/distances_table.rst",
            category="Targets",
            subcategory="Group",
        ),
        distances_dictionary="results/targets/arm_distances.json",
        navigation="results/targets/neuronavigation.csv",
        group_figure=report(
            "results/targets/figures/group_targets.png",
            caption="../report/targets/group.rst",
            category="Targets",
            subcategory="Group",
        ),
        distance_figure=report(
            "results/targets/figures/arm_distances.png",
            caption="../report/targets/distances.rst",
            category="Targets",
            subcategory="Group",
        ),
        vector_figures=expand(
            "results/targets/figures/{name}.pdf",
            name=["group_targets", "arm_distances"],
        ),
        description="results/targets/dataset_description.json",
    log:
        "results/logs/collect_targets.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        connectivity_method=TARGETS["connectivity_method"],
        arm_labels=ARM_LABELS,
        # SourceDatasets: the cleaned series, fMRIPrep's transforms (native coordinates),
        # the raw dataset's participants.tsv (head measurements, arms)
        sources=[PREP, FMRIPREP_DIR, BIDS_DIR],
    script:
        "../scripts/collect_targets.py"


rule score_recovery:
    input:
        table=rules.collect_targets.output.table,
        mask=first_subject(CLEAN_MASK),
        planted=PLANTED_TARGETS,
    output:
        per_subject="results/targets/recovery/recovery.tsv",
        summary=report(
            "results/targets/recovery/recovery_summary.tsv",
            caption="../report/targets/recovery_table.rst",
            category="Targets",
            subcategory="Planted-target recovery (demo)",
        ),
        journal=expand(
            "results/targets/recovery/recovery_summary.{ext}", ext=["md", "tex"]
        ),
        figure=report(
            "results/targets/recovery/recovery.png",
            caption="../report/targets/recovery.rst",
            category="Targets",
            subcategory="Planted-target recovery (demo)",
        ),
        vector_figure="results/targets/recovery/recovery.pdf",
    log:
        "results/logs/score_recovery.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        methods=TARGETS["methods"],
    script:
        "../scripts/score_recovery.py"
