"""The SLURM profile on a one-node SLURM cluster started on this machine: the tiny workflow
gives the same bytes as a local run, and a failing job stops Snakemake with its log shown.

Needs the SLURM and MUNGE binaries (Debian: `apt-get install slurm-wlm munge`; `.ci/run`
installs them) and root, as the daemons run as root; skipped where the binaries are absent."""

import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, digest, run_snakemake, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

SLURM_PROFILE = REPO / "profiles" / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scancel")
# Jobs and CPUs of the test node: the machine's, at most two.
NODE_CPUS = min(2, os.cpu_count() or 1)
# Poll SLURM soon after submitting (the profile waits 40 s, the plugin's default): the tiny
# workflow's jobs take seconds. The plugin adds 10 s to the interval after each check in
# which no job has finished, and starts again from this value when one has.
FAST_POLLING = ("--slurm-init-seconds-before-status-checks", "1")


def _free_ports(count: int) -> list[int]:
    """Ports free on localhost now (held together, so that they differ)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("localhost", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _memory_mb() -> int:
    """The node's memory for slurm.conf: 95% of MemTotal, so that slurmd, which measures
    the same, never finds less than configured (it would drain the node)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.95)
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _slurm_conf(root: Path, munge_socket: Path) -> str:
    controller_port, node_port = _free_ports(2)
    return f"""\
ClusterName=tmstarget-test
SlurmctldHost=localhost
SlurmctldPort={controller_port}
SlurmdPort={node_port}
AuthType=auth/munge
CredType=cred/munge
# Our own munged, not the system's.
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
# No cgroups (none in containers without systemd): track processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# Cores and memory are what jobs ask for, so two one-core jobs share the node.
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: Snakemake asks squeue, which keeps a job MinJobAge s after it ends.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=localhost CPUs={NODE_CPUS} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster on localhost (munged, slurmctld, slurmd in the foreground,
    all under a temporary folder); SLURM_CONF points the clients at it while it runs."""
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        pytest.skip(
            f"SLURM/MUNGE binaries not installed ({', '.join(missing)} missing); "
            "on Debian: apt-get install slurm-wlm munge"
        )
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool", "log", "munge", "bin"):
        (root / folder).mkdir()
    (root / "munge").chmod(0o700)
    # A key of our own: munged requires it to be owned by the user running it.
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, munge_socket))
    # Inside a job, the plugin's slurm-jobstep executor (0.6.1) starts the rule with srun
    # but strips every SLURM_* variable from srun's environment, SLURM_CONF included, so
    # srun would look for /etc/slurm/slurm.conf. Real clusters have their configuration
    # there (or in slurmd's configless cache); this cluster's srun gets it from a wrapper.
    srun = root / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)

    processes = []

    def start(name, *args):
        with (root / "log" / f"{name}.out").open("w") as output:
            processes.append(
                subprocess.Popen(
                    [shutil.which(name), *args], stdout=output, stderr=subprocess.STDOUT
                )
            )

    def logs() -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}"
            for path in sorted((root / "log").iterdir())
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(conf))
        patch.setenv("PATH", f"{srun.parent}{os.pathsep}{os.environ['PATH']}")
        try:
            # --force: munged wants every folder above its socket to be world-executable,
            # and pytest's temporary folders are private.
            start(
                "munged",
                "--foreground",
                "--force",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}",
            )
            _wait_for(munge_socket.exists, 20, "munged's socket", logs)
            start("slurmctld", "-D", "-f", str(conf))
            start("slurmd", "-D", "-N", "localhost", "-f", str(conf))
            _wait_for(lambda: _node_state() == "idle", 60, "the node to be idle", logs)
            yield conf
        finally:
            subprocess.run(
                ["scancel", "--user", getpass.getuser()], capture_output=True, check=False
            )
            for process in reversed(processes):
                _stop(process)


def _node_state() -> str:
    result = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _wait_for(condition, seconds, what, logs) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}\n{logs()}")
        time.sleep(0.5)


def test_slurm_run_matches_local_run(slurm_cluster, tiny_run, tmp_path):
    on_slurm = tmp_path / "slurm"
    on_slurm.mkdir()
    result = run_snakemake(
        on_slurm,
        "--profile",
        str(SLURM_PROFILE),
        # The node's size: at most NODE_CPUS threads per job, a few jobs queued at once.
        "--jobs",
        "4",
        "--max-threads",
        str(NODE_CPUS),
        *FAST_POLLING,
        configfiles=[tiny_config(on_slurm)],
        timeout=1500,
    )
    assert result.returncode == 0, result.output[-5000:]
    # Every per-subject job went through sbatch; the group rules (localrule: seconds each)
    # and the target rules ran in place.
    jobs = re.findall(r"^(?:rule|checkpoint) (\w+):$", result.output, flags=re.MULTILINE)
    local = set(re.findall(r"^localrule (\w+):$", result.output, flags=re.MULTILINE))
    submitted = re.findall(r"has been submitted with SLURM jobid \d+", result.output)
    assert len(submitted) == len(jobs) > 20, result.output[-3000:]
    assert set(jobs) == {"check_inputs", "prepare_run", "clean_subject", "find_targets"} | {
        "simulate_cohort",
        "place_coil",
        "report_patient",
    }
    assert local - {"all", "navigation"} == {
        "summarise_qc",
        "collect_targets",
        "score_recovery",
        "analyse_reliability",
        "technician_key",
        "provenance",
        "manuscript",
        "analyse_outcomes",
        "plot_outcomes",
        "analyse_mechanism",
    }

    slurm_digest = digest(on_slurm / "results")
    assert slurm_digest == digest(tiny_run)
    assert len(slurm_digest) > 100


FAILING_SNAKEFILE = """\
rule fail_on_purpose:
    output:
        "never.txt",
    log:
        "logs/fail_on_purpose.log",
    shell:
        "echo planted failure $((6 * 7)) > {log}; exit 1"
"""


def test_failing_job_stops_the_run(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(FAILING_SNAKEFILE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(tmp_path / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--profile",
            str(SLURM_PROFILE),
            *FAST_POLLING,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    # The profile's one retry, then the error naming the rule, its log and SLURM's log,
    # and (show-failed-logs) the log's content, which only the job itself could write.
    assert "Trying to restart job" in output, output[-3000:]
    assert "Error in rule fail_on_purpose" in output, output[-3000:]
    assert "log: logs/fail_on_purpose.log, " in output, output[-3000:]
    assert ".snakemake/slurm_logs/rule_fail_on_purpose/" in output, output[-3000:]
    assert "Logfile logs/fail_on_purpose.log:" in output, output[-3000:]
    assert "planted failure 42" in output, output[-3000:]
    assert not (tmp_path / "never.txt").exists()
