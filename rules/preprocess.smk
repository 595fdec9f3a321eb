# Multi-echo preprocessing: per run, tedana where the echoes are and one interpolation into
# the analysis grid; per subject, cleaning, smoothing and joining the runs into one
# analysis-ready series, with QC per subject and for the group.
from tmstarget.denoise import cleaning_options

PREPROCESS = config["preprocess"]
SPACE = config["input"]["space"]
TASK = config["input"]["task"]
# Data denoised elsewhere and already in the template enter at the cleaning step directly.
DIRECT_TO_CLEANING = bool(PREPROCESS["denoised_input_desc"]) and not QUERY.native
# Per run: tedana's folder (its component table and figures, and the workflow's summary),
# and the run on the analysis grid (kept only until the subject is cleaned).
RUN_TEDANA = "results/preprocess/sub-{subject}/func/tedana/sub-{subject}_{run_key}"
RUN_GRID = "results/preprocess/sub-{subject}/func/sub-{subject}_{run_key}"
RUN_BOLD = f"{RUN_GRID}_space-{SPACE}_desc-denoised_bold.nii.gz"
RUN_OPTCOM = f"{RUN_GRID}_space-{SPACE}_desc-optcom_bold.nii.gz"
RUN_MASK = f"{RUN_GRID}_space-{SPACE}_desc-brain_mask.nii.gz"
CLEAN_BOLD = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_task-{TASK}_space-{SPACE}_desc-clean_bold.nii.gz"
CLEAN_MASK = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_space-{SPACE}_desc-brain_mask.nii.gz"
QC_METRICS = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_task-{TASK}_desc-qc_metrics.json"


rule prepare_run:
    input:
        echoes=lambda wildcards: the_run(wildcards).echo_files,
        mask=lambda wildcards: the_run(wildcards).mask_file,
        transforms=lambda wildcards: the_run(wildcards).resample_xfms,
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
        mem_mb=lambda wildcards, attempt: fitted_mem_mb(
            "prepare_run", run_msamples(the_run(wildcards)), attempt=attempt
        ),
        runtime=lambda wildcards, attempt: fitted_runtime_min(
            "prepare_run", run_msamples(the_run(wildcards)), attempt
        ),
    params:
        echo_times_s=lambda wildcards: the_run(wildcards).echo_times_s,
        repetition_time_s=lambda wildcards: the_run(wildcards).repetition_time_s,
        n_dummy=lambda wildcards: (
            PREPROCESS["n_dummy"]
            if PREPROCESS["n_dummy"] is not None
            else the_run(wildcards).n_dummy
        ),
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
        bold=(
            (lambda wildcards: [run.echo_files[0] for run in subject_runs(wildcards)])
            if DIRECT_TO_CLEANING
            else run_files(RUN_BOLD)
        ),
        reference=[] if DIRECT_TO_CLEANING else run_files(RUN_OPTCOM),
        masks=(
            (lambda wildcards: [run.mask_file for run in subject_runs(wildcards)])
            if DIRECT_TO_CLEANING
            else run_files(RUN_MASK)
        ),
        confounds=lambda wildcards: [
            run.confounds_file for run in subject_runs(wildcards)
        ],
        checked=ancient(SUBJECTS_TABLE),
    output:
        bold=CLEAN_BOLD,
        mask=CLEAN_MASK,
        metrics=QC_METRICS,
        qc=report(
            f"results/preprocess/sub-{{subject}}/figures/sub-{{subject}}_task-{TASK}_desc-qc_bold.png",
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
        mem_mb=lambda wildcards, attempt: fitted_mem_mb(
            "clean_subject",
            subject_grid_msamples(wildcards),
            subject_grid_msamples(wildcards, largest_run=True),
            attempt,
        ),
        runtime=lambda wildcards, attempt: fitted_runtime_min(
            "clean_subject", subject_grid_msamples(wildcards), attempt
        ),
    params:
        run_labels=lambda wildcards: [run.key for run in subject_runs(wildcards)],
        repetition_times_s=lambda wildcards: [
            run.repetition_time_s for run in subject_runs(wildcards)
        ],
        n_dummy=lambda wildcards: [run.n_dummy for run in subject_runs(wildcards)],
        direct=DIRECT_TO_CLEANING,
        # the keys cleaning reads (not the QC thresholds: the verdict is summarise_qc's
        # and the patient report's, so changing them reruns no cleaning)
        cleaning=cleaning_options(PREPROCESS),
    script:
        "../scripts/clean_subject.py"


rule summarise_qc:
    input:
        metrics=lambda wildcards: expand(QC_METRICS, subject=subjects()),
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
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        thresholds=PREPROCESS["qc_thresholds"],
        bids_dir=BIDS_DIR,
    script:
        "../scripts/summarise_qc.py"
