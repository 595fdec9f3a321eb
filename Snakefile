# Connectivity-guided TMS targeting in depression: from multi-echo resting-state fMRI and
# trial data to individual DLPFC targets, their reliability and the trial's outcomes.
from snakemake.utils import min_version, validate

min_version("9.20")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/preprocess.smk"
include: "rules/targets.smk"
include: "rules/navigation.smk"
include: "rules/reliability.smk"
include: "rules/outcomes.smk"
include: "rules/planning.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        rules.check_inputs.output,
        rules.summarise_qc.output,
        rules.navigation.input,
        rules.collect_targets.output if TRIAL else [],
        rules.analyse_reliability.output if reliability_stage() else [],
        rules.score_recovery.output if DEMO and TRIAL else [],
        (
            [
                rules.analyse_outcomes.output,
                rules.plot_outcomes.output,
                rules.analyse_mechanism.output,
            ]
            if OUTCOMES_STAGE
            else []
        ),
        rules.manuscript.output if MANUSCRIPT_STAGE else [],
