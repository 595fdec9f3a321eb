# Multi-echo preprocessing: per run, tedana where the echoes are and one interpolation into
# the analysis grid; per subject, cleaning, smoothing and joining the runs into one
# analysis-ready series, with QC per subject and for the group.


rule prepare_run:
    input:
        echoes=run_echoes,
        mask=run_mask,
        transforms=run_transforms,
        checked=ancient(SUBJECTS_TABLE),
    output:
        tedana=directory(RUN_TEDANA),
        bold=temp(RUN_BOLD),
        optcom=temp(RUN_OPTCOM),
        mask=RUN_MASK,
    log:
        "results/logs/prepare_run/sub-{subject}_{run_key}.log",
    benchmark:
        "results/benchmarks/prepare_run/sub-{subject}_{run_key}.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=fitted_memory("prepare_run"),
        runtime=fitted_runtime("prepare_run"),
    params:
        echo_times_s=run_echo_times,
        repetition_time_s=run_repetition_time,
        n_dummy=run_dummy_volumes,
        denoised=bool(PREPROCESS["denoised_input_desc"]),
        tedana=PREPROCESS["tedana"],
        min_volumes=PREPROCESS["min_volumes"],
        grid_voxel_mm=GRID_MM,
        kernel=PREPROCESS["resample"]["kernel"],
    script:
        "../scripts/prepare_run.py"


rule clean_subject:
    input:
        tedana=[] if DIRECT_TO_CLEANING else run_files(RUN_TEDANA),
        bold=subject_series_inputs,
        reference=[] if DIRECT_TO_CLEANING else run_files(RUN_OPTCOM),
        masks=subject_mask_inputs,
        confounds=subject_confounds,
        checked=ancient(SUBJECTS_TABLE),
    output:
        bold=CLEAN_BOLD,
        bold_sidecar=CLEAN_BOLD.replace(".nii.gz", ".json"),
        mask=CLEAN_MASK,
        metrics=QC_METRICS,
        qc=report(
            SUBJECT_QC_FIGURE,
            caption="../report/preprocess/subject_qc.rst",
            category="Preprocessing QC",
            subcategory="Subjects",
            labels={"subject": "sub-{subject}"},
        ),
    log:
        "results/logs/clean_subject/sub-{subject}.log",
    benchmark:
        "results/benchmarks/clean_subject/sub-{subject}.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=fitted_memory("clean_subject"),
        runtime=fitted_runtime("clean_subject"),
    params:
        run_labels=subject_run_labels,
        repetition_times_s=subject_repetition_times,
        n_dummy=subject_dummy_volumes,
        task=TASK,
        direct=DIRECT_TO_CLEANING,
        # the keys cleaning reads (not the QC thresholds: the verdict is summarise_qc's
        # and the patient report's, so changing them reruns no cleaning)
        cleaning=cleaning_options(PREPROCESS),
    script:
        "../scripts/clean_subject.py"


rule summarise_qc:
    input:
        metrics=every_subject(QC_METRICS),
    output:
        table=report(
            "results/preprocess/group_qc.tsv",
            caption="../report/preprocess/group_qc.rst",
            category="Preprocessing QC",
            subcategory="Group",
        ),
        journal=expand("results/preprocess/group_qc.{ext}", ext=["md", "tex"]),
        description="results/preprocess/dataset_description.json",
    log:
        "results/logs/summarise_qc.log",
    localrule: True
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        thresholds=PREPROCESS["qc_thresholds"],
        # SourceDatasets: the fMRIPrep folder the runs were read from
        sources=[FMRIPREP_DIR],
    script:
        "../scripts/summarise_qc.py"
