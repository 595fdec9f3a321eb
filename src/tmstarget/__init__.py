"""Connectivity-guided TMS targeting in depression.

The package holds the science of the workflow; Snakemake rules call it through thin
adapter scripts in ``scripts/``. One module per concern:

- ``bids``: finding inputs in a BIDS dataset and naming BIDS-derivatives outputs
- ``simulate``: the embedded demo cohort (clinical tables and multi-echo fMRI)
- ``style``: the one figure style shared by every plot
"""

__version__ = "0.1.0"
