"""Time and peak memory of simulating one trial-sized subject (config/full_scale.yaml):
2 mm MNI grid, 4 echoes, 3 runs x 410 volumes (41 minutes), written as fMRIPrep-style
files. Usage: python benchmarks/bench_simulate.py [output folder]"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from common import full_scale_spec, print_table, timed

from tmstarget import bids, simulate
from tmstarget.demo import SPACE


def main(out_dir: Path) -> None:
    spec = full_scale_spec()
    imaging = spec.imaging
    results: list = []
    with timed(results, "load template masks (2 mm)"):
        template = simulate.load_template(imaging.voxel_size_mm)
    rng = np.random.default_rng([spec.seed, 1])
    with timed(results, "draw subject's spatial maps"):
        target = simulate.draw_targets(template, 1, imaging.target_spread_mm, rng)[0]
        model = simulate.subject_model(imaging, template, target, rng)
    for run_number in range(1, imaging.n_runs + 1):
        with timed(results, f"simulate run {run_number} ({imaging.n_volumes} volumes)"):
            run = simulate.simulate_run(imaging, model, rng, dtype=np.int16)
        with timed(results, f"write run {run_number} ({len(run.echoes)} echoes, .nii.gz)"):
            for echo, data in enumerate(run.echoes, 1):
                name = bids.bids_name(
                    "bold",
                    ".nii.gz",
                    sub="01",
                    task="rest",
                    run=run_number,
                    echo=echo,
                    space=SPACE,
                    desc="preproc",
                )
                simulate.to_image(data, template.affine, imaging.repetition_time_s).to_filename(
                    out_dir / name
                )
        del run
    n_voxels = int(template.brain.sum())
    size_gb = sum(p.stat().st_size for p in out_dir.glob("*.nii.gz")) / 1e9
    print_table(
        results,
        f"Simulating one full-scale subject: {n_voxels} brain voxels, "
        f"{len(imaging.echo_times_s)} echoes, {imaging.n_runs} x {imaging.n_volumes} volumes; "
        f"{size_gb:.2f} GB written",
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target_dir = Path(sys.argv[1])
        target_dir.mkdir(parents=True, exist_ok=True)
        main(target_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
