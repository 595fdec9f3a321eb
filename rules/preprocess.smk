# Multi-echo preprocessing: per run, tedana where the echoes are and one interpolation into
# the analysis grid; per subject, cleaning, smoothing and joining the runs into one
# analysis-ready series, with QC per subject and for the group.
from tmstarget.denoise import cleaning_options

PREPROCESS = config["preprocess"]
SPACE = config["input"]["space"]
TASK = config["input"]["task"]
# Data denoised elsewhere and already in the template enter at the cleaning step directly.
DIRECT_TO_CLEANING = bool(PREPROCESS["denoised_input_desc"]) and not QUERY.native
# Output names are built by bids_io.bids_name (labels alphanumeric); {subject} and
# {run_key} are Snakemake wildcards.
PREP = "results/preprocess"
SUBJECT_FUNC = f"{PREP}/sub-{{subject}}/func"
RUN_SOURCE = "sub-{subject}_{run_key}"
# Per run: tedana's own output folder, a BIDS derivatives dataset of its own (its
# dataset_description.json names tedana, its version and the call), nested under our
# derivatives' derivatives/ as the specification nests one pipeline's derivatives in
# another's; readers (pybids, the validator) do not take it for part of ours.
RUN_TEDANA = f"{PREP}/derivatives/tedana-{RUN_SOURCE}"
# The run on the analysis grid (kept only until the subject is cleaned) and its mask.
RUN_BOLD = bids_path(
    SUBJECT_FUNC, "bold", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="denoised"
)
RUN_OPTCOM = bids_path(
    SUBJECT_FUNC, "bold", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="optcom"
)
RUN_MASK = bids_path(
    SUBJECT_FUNC, "mask", ".nii.gz", source=RUN_SOURCE, space=SPACE, desc="brain"
)
# The subject's series (runs joined) with its JSON sidecar, its brain mask (a functional
# mask: task- as fMRIPrep names them) and QC.
CLEAN_BOLD = bids_path(
    SUBJECT_FUNC,
    "bold",
    ".nii.gz",
    sub="{subject}",
    task=TASK,
    space=SPACE,
    desc="clean",
)
CLEAN_MASK = bids_path(
    SUBJECT_FUNC,
    "mask",
    ".nii.gz",
    sub="{subject}",
    task=TASK,
    space=SPACE,
    desc="brain",
)
QC_METRICS = bids_path(
    SUBJECT_FUNC, "metrics", ".json", sub="{subject}", task=TASK, desc="qc"
)
SUBJECT_QC_FIGURE = bids_path(
    f"{PREP}/sub-{{subject}}/figures",
    "bold",
    ".png",
    sub="{subject}",
    task=TASK,
    desc="qc",
)


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
        task=TASK,
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
        # SourceDatasets: the fMRIPrep folder the runs were read from
        sources=[FMRIPREP_DIR],
    script:
        "../scripts/summarise_qc.py"
