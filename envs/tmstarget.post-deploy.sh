#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment, from the folder snakemake was
# started in (the workflow folder): install the workflow's own package, whose
# dependencies the environment file already pins.
set -euo pipefail
pip install --no-deps .
