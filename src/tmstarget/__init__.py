"""Connectivity-guided TMS targeting in depression.

The package holds the science of the workflow; Snakemake rules call it through thin
adapter scripts in ``scripts/``. One module per concern:

- ``config``: checks of the configuration beyond its JSON Schema
- ``bids``: finding inputs in a BIDS dataset (pybids) and naming BIDS-derivatives outputs
- ``atlas``: MNI grids, tissue masks and the published coordinates
- ``simulate``, ``simulate_native`` and ``demo``: the embedded demo cohort (its heads,
  native spaces and transforms) and writing it as BIDS with fMRIPrep's derivatives
- ``transforms``: fMRIPrep's ITK transforms, chained with nitransforms (and written)
- ``resample``: one interpolation of a run into the analysis grid
- ``runprep``: one run from fMRIPrep's outputs to the grid (tedana, then resampling)
- ``confounds``: fMRIPrep's confounds table and the nuisance strategies
- ``denoise``: multi-echo preprocessing (tedana, cleaning, smoothing, QC)
- ``circuits`` and ``targeting``: circuit maps, search masks and the targeting methods
- ``scalp``: Beam F3, the template scalp, coil positions
- ``native``: MNI to native T1w coordinates, neuronavigation export
- ``stimulation``: every site of one subject, and group tables of sites
- ``reliability``: split-half reliability and scan length
- ``clinical``, ``outcomes`` and ``mmrm``: clinical tables and the trial's statistics
- ``power`` and ``batch_stats``: planning the next trial by simulating its analysis
- ``tables``, ``style`` and ``figures``: manuscript tables and figures
- ``logs``: logging of the workflow's scripts
"""

__version__ = "0.1.0"
