"""The workflow's fixed vocabulary, spelled once: targeting methods, target choices, arm
roles, the trial's visits and their printed names, and the outcome analysis's choices.

Every module imports these names from here (the old names stay importable from their old
modules). ``config/schema.yaml`` lists the same values as the enums of its keys, and a
test holds each enum against its tuple here. This module imports nothing of the package:
figures and rules may import it without pulling in the statistics stack.
"""

from __future__ import annotations

# --- targeting methods (targets.methods, targets.connectivity_method, reliability.method)
CIRCUIT_SEARCHLIGHT = "circuit_searchlight"  # the trial's method
SGACC_CLASSIC = "sgacc_classic"  # most negative voxel of the sgACC seed map
SGACC_CLUSTER = "sgacc_cluster"  # centre of mass of the seed map's largest negative cluster
# The connectivity methods, in the order the workflow runs them.
METHODS = (CIRCUIT_SEARCHLIGHT, SGACC_CLASSIC, SGACC_CLUSTER)
# Methods that choose a site on a score map (the bootstrap and the target choices apply).
MAP_METHODS = (CIRCUIT_SEARCHLIGHT, SGACC_CLASSIC)
# The scalp arm's site: Beam F3 from head measurements, projected to cortex.
BEAM_F3 = "beam_f3"
# Every site a subject's targets table can hold.
SITE_METHODS = (*METHODS, BEAM_F3)
DEFAULT_CONNECTIVITY_METHOD = CIRCUIT_SEARCHLIGHT

# --- how a site is chosen on a score map (targets.choice, reliability.choices)
CHOICES = ("argmax", "smoothed", "top_fraction", "bootstrap_mode")
DEFAULT_CHOICE = "argmax"

# --- the trial's arms (trial.arm_labels, outcomes.arm_names)
CONNECTIVITY, SCALP = "connectivity", "scalp"
ARM_ROLES = (CONNECTIVITY, SCALP)  # experimental first, control second
# The site each arm is stimulated at (the connectivity arm's is targets.connectivity_method).
ARM_METHODS = {CONNECTIVITY: DEFAULT_CONNECTIVITY_METHOD, SCALP: BEAM_F3}
# participants.tsv's arm labels when none are configured.
DEFAULT_ARM_LABELS = {CONNECTIVITY: "connectivity", SCALP: "scalp"}
# Printed names of the arms.
DEFAULT_ARM_NAMES = {CONNECTIVITY: "Connectivity", SCALP: "Scalp"}

# --- the trial's visits (outcomes.visits, session_id of phenotype/madrs.tsv), in order
DEFAULT_VISITS = (
    "baseline",
    "day1",
    "day2",
    "day3",
    "day4",
    "day5",
    "eot",
    "week1",
    "month1",
)
DEFAULT_BASELINE_VISIT = "baseline"
DEFAULT_PRIMARY_VISIT = "month1"
DEFAULT_VISIT_LABELS = {
    "baseline": "Baseline",
    "day1": "Day 1",
    "day2": "Day 2",
    "day3": "Day 3",
    "day4": "Day 4",
    "day5": "Day 5",
    "eot": "End of treatment",
    "week1": "Week 1",
    "month1": "Month 1",
}

# --- the outcome analysis's choices (outcomes.*)
MISSING_POLICIES = ("non_responder", "exclude", "last_observation")
PRIMARY_ANALYSES = ("mann_whitney", "t_test", "ancova", "mmrm", "random_intercept")
COVARIANCE_STRUCTURES = ("unstructured", "toeplitz", "compound_symmetry")
HODGES_LEHMANN_CIS = ("exact", "normal")
EFFECT_SIZE_CIS = ("noncentral_t", "normal")
MANN_WHITNEY_METHODS = ("asymptotic", "exact", "auto")
CORRELATION_CIS = ("fisher", "bootstrap")

# --- reliability's between-subject conventions (reliability.between_convention, centroid)
CONVENTIONS = ("pairwise_cross_half", "centroid")
CENTROIDS = ("pooled", "per_half")

# --- preprocessing (preprocess.tedana.mode, ica_method, concat_normalise)
TEDANA_MODES = ("me-ica", "optcom")
ICA_METHODS = ("fastica", "robustica")
CONCAT_NORMALISATIONS = ("zscore", "demean")
