# Per patient: the coil on their own scalp and the navigation files (CSV, Brainsight,
# Localite), and a one-page target report for the clinician; in trial mode also the
# technician's blinded packet and, for the unblinded statistician, its key. Target
# `navigation` builds these alone (imaging only: no arms, no clinical tables).
from tmstarget.vocabulary import BEAM_F3

NAVIGATION = config["navigation"]
NAV_STEM = "results/navigation/sub-{subject}/sub-{subject}"
SUBJECT_COIL = f"{NAV_STEM}_space-T1w_desc-coil_targets.tsv"
# Navigation files by format (the CSV always), for the clinic and the unblinded team.
NAV_SUFFIXES = {
    "csv": "targets.csv",
    "brainsight": "brainsight.txt",
    "localite": "localite.xml",
}
NAV_FORMATS = ["csv", *NAVIGATION["formats"]]
NAV_REPORT = f"{NAV_STEM}_desc-navigation_report"
# The technician's packet (trial): the delivered site only, under a neutral label.
TECHNICIAN_STEM = "results/technician/sub-{subject}/sub-{subject}"
TECHNICIAN_REPORT = f"{TECHNICIAN_STEM}_desc-technician_report"
TECHNICIAN_KEY = "results/unblinded/technician_key.tsv"
# What a technician's file must not contain (tmstarget.blinding.revealing_words adds the
# printed method names).
REVEALING = sorted({*ARM_LABELS.values(), *TARGETS["methods"]})
# The connectivity method's score map and the subject's bootstrap (see rules/targets.smk).
SUBJECT_SCORE_MAP = (
    "results/targets/sub-{subject}/sub-{subject}"
    f"_space-{SPACE}_desc-{TARGETS['connectivity_method']}_stat.nii.gz"
)


rule place_coil:
    input:
        targets=SUBJECT_TARGETS,
        t1w=subject_t1w,
        checked=ancient(SUBJECTS_TABLE),
    output:
        **navigation_files(NAV_STEM, "navigation"),
        **(
            {
                f"technician_{fmt}": path
                for fmt, path in navigation_files(
                    TECHNICIAN_STEM, "technician"
                ).items()
            }
            if TRIAL
            else {}
        ),
        coil=SUBJECT_COIL,
        coil_dictionary=SUBJECT_COIL.replace(".tsv", ".json"),
        # trial: the technician's packet, the delivered site only under a neutral label
    log:
        "results/logs/place_coil/sub-{subject}.log",
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        methods=lambda wildcards: [TARGETS["connectivity_method"]]
        + ([BEAM_F3] if TARGETS["beam_f3"] else []),
        handle_angle_deg=NAVIGATION["handle_angle_deg"],
        # trial: the subject's arm's method (editing another row reruns nothing here)
        delivered=delivered,
        revealing=REVEALING,
    script:
        "../scripts/place_coil.py"


rule report_patient:
    input:
        unpack(report_inputs),
        sources=subject_sources,
    output:
        **(
            {
                "technician_pdf": f"{TECHNICIAN_REPORT}.pdf",
                "technician_png": f"{TECHNICIAN_REPORT}.png",
            }
            if TRIAL
            else {}
        ),
        pdf=f"{NAV_REPORT}.pdf",
        png=report(
            f"{NAV_REPORT}.png",
            caption="../report/navigation/patient_report.rst",
            category="Navigation",
            subcategory="Patients",
            labels={"subject": "sub-{subject}"},
        ),
        # trial: the blinded copy handed to the technician with the packet
    log:
        "results/logs/report_patient/sub-{subject}.log",
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        connectivity_method=TARGETS["connectivity_method"],
        delivered=delivered,
        qc_thresholds=PREPROCESS["qc_thresholds"],
        handle_angle_deg=NAVIGATION["handle_angle_deg"],
        template=SPACE,
        revealing=REVEALING,
    script:
        "../scripts/report_patient.py"


rule technician_key:
    input:
        packets=lambda wildcards: expand(
            navigation_files(TECHNICIAN_STEM, "technician")["csv"], subject=subjects()
        ),
        checked=ancient(SUBJECTS_TABLE),
    output:
        key=TECHNICIAN_KEY,
        key_dictionary=TECHNICIAN_KEY.replace(".tsv", ".json"),
    log:
        "results/logs/technician_key.log",
    conda:
        "../envs/tmstarget.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        arms=lambda wildcards: {
            f"sub-{subject}": participant_arm(subject) for subject in subjects()
        },
        connectivity_method=TARGETS["connectivity_method"],
    script:
        "../scripts/technician_key.py"


rule navigation:
    input:
        navigation_outputs,
