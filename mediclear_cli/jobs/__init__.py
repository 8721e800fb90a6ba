"""The commands' core: each job parses nothing and renders nothing; it takes paths and options, runs the
pipeline read → validate → reconcile → clear → write, and returns the summary and exit code.

Order of a job: hash the inputs (in a thread, beside DuckDB's work), reconcile and prove the accounting,
clear and prove conservation, then write every output into a private folder and publish it in one step.
Nothing is written to `--out` before every check has passed.

Each job is a module of this package on a small shared core (common.py); this file names what callers use.
"""

from __future__ import annotations

from mediclear_cli.jobs.clear import DATA_OUTPUTS, run_clear
from mediclear_cli.jobs.common import JobSpec, Progress, check_output
from mediclear_cli.jobs.diff import run_diff, run_diff_runs
from mediclear_cli.jobs.policy import run_policy_check
from mediclear_cli.jobs.reconcile import run_reconcile
from mediclear_cli.jobs.screen import run_screen

__all__ = ["DATA_OUTPUTS", "JobSpec", "Progress", "check_output", "run_clear", "run_diff", "run_diff_runs",
           "run_policy_check", "run_reconcile", "run_screen"]
