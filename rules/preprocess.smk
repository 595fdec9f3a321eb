# Multi-echo preprocessing: tedana per run, then cleaning, smoothing and joining the runs
# of each subject into one analysis-ready series, with QC per subject and for the group.
PREPROCESS = config["preprocess"]
SPACE = config["input"]["space"]
TASK = config["input"]["task"]
# tedana's outputs: one folder per run inside the subject's tedana folder. One job per
# subject runs them one after another (tedana's import alone costs about 6 s per job).
TEDANA_DIR = "results/preprocess/sub-{subject}/func/tedana"
CLEAN_BOLD = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_task-{TASK}_space-{SPACE}_desc-clean_bold.nii.gz"
CLEAN_MASK = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_space-{SPACE}_desc-brain_mask.nii.gz"
QC_METRICS = f"results/preprocess/sub-{{subject}}/func/sub-{{subject}}_task-{TASK}_desc-qc_metrics.json"


rule denoise_tedana:
    input:
        echoes=lambda wildcards: [
            f for run in subject_runs(wildcards) for f in run.echo_files
        ],
        masks=lambda wildcards: [run.mask_file for run in subject_runs(wildcards)],
    output:
        directory(TEDANA_DIR),
    log:
        "results/logs/denoise_tedana/sub-{subject}.log",
    benchmark:
        "results/benchmarks/denoise_tedana/sub-{subject}.tsv"
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        # Memory follows one run's echoes (one mask per run), time all of them.
        mem_mb=lambda wildcards, input, attempt: fitted_mem_mb(
            "denoise_tedana", input.size_mb / len(input.masks), attempt
        ),
        runtime=lambda wildcards, input, attempt: fitted_runtime_min(
            "denoise_tedana", input.size_mb, attempt
        ),
    params:
        runs=lambda wildcards: [
            {
                "key": run.key,
                "echo_files": run.echo_files,
                "echo_times_s": run.echo_times_s,
                "mask": run.mask_file,
            }
            for run in subject_runs(wildcards)
        ],
        tedana=PREPROCESS["tedana"],
        n_dummy=PREPROCESS["n_dummy"],
        min_volumes=PREPROCESS["min_volumes"],
    script:
        "../scripts/denoise_tedana.py"


rule clean_subject:
    input:
        tedana=[] if PREPROCESS["denoised_input_desc"] else TEDANA_DIR,
        bold=lambda wildcards: (
            [run.echo_files[0] for run in subject_runs(wildcards)]
            if PREPROCESS["denoised_input_desc"]
            else []
        ),
        masks=lambda wildcards: [run.mask_file for run in subject_runs(wildcards)],
        confounds=lambda wildcards: [
            run.confounds_file for run in subject_runs(wildcards)
        ],
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
        # The series to clean: tedana's folder holds two per run (optcom and denoised);
        # with denoised inputs, input.size_mb is mostly those series.
        mem_mb=lambda wildcards, input, attempt: fitted_mem_mb(
            "clean_subject", input.size_mb + directory_mb(input.tedana) / 2, attempt
        ),
        runtime=lambda wildcards, input, attempt: fitted_runtime_min(
            "clean_subject", input.size_mb + directory_mb(input.tedana) / 2, attempt
        ),
    params:
        run_labels=lambda wildcards: [run.key for run in subject_runs(wildcards)],
        repetition_times_s=lambda wildcards: [
            run.repetition_time_s for run in subject_runs(wildcards)
        ],
        preprocess=PREPROCESS,
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
