"""Runs in the orchestrator's virtualenv: loads orchestrate/definitions.py, reports on it as JSON.

No Dagster server, daemon or webserver: the definitions are loaded as a code location would
load them, the schedules are evaluated against a throwaway instance in a temporary folder, and,
when asked, one job is executed in this process. `tests/test_orchestrate.py` reads the JSON
this prints.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, build_schedule_context

ORCHESTRATE = Path(__file__).resolve().parent.parent / "orchestrate"
sys.path.insert(0, str(ORCHESTRATE))

import definitions  # noqa: E402 - found through the path set above


def tick(schedule, instance) -> str:
    """What one evaluation of the schedule asks for: a run, or the reason it skips."""
    result = schedule.evaluate_tick(build_schedule_context(instance=instance))
    if result.skip_message:
        return f"skip: {result.skip_message}"
    return f"runs: {len(result.run_requests or [])}"


def main() -> None:
    repository = definitions.defs.get_repository_def()
    report: dict = {"jobs": {}, "schedules": {}}
    for job in repository.get_all_jobs():
        report["jobs"][job.name] = {
            "tags": dict(job.tags),
            "ops": {
                name: {
                    "description": node.definition.description,
                    "config": job.run_config["ops"][name]["config"],
                }
                for name, node in job.graph.node_dict.items()
            },
        }
    # Schedules read the runs through a reference to the instance: it must be on disk.
    with DagsterInstance.local_temp() as instance:
        for schedule in repository.schedule_defs:
            report["schedules"][schedule.name] = {
                "cron": schedule.cron_schedule,
                "job": schedule.job_name,
                "timezone": schedule.execution_timezone,
                "tick": tick(schedule, instance),
            }
        first = repository.schedule_defs[0]
        instance.add_run(DagsterRun(job_name=first.job_name, status=DagsterRunStatus.STARTED))
        report["tick_while_running"] = {first.name: tick(first, instance)}

    # The instance settings the README tells operators to copy into DAGSTER_HOME.
    with tempfile.TemporaryDirectory() as home:
        shutil.copy(ORCHESTRATE / "dagster.yaml", home)
        os.environ["DAGSTER_HOME"] = home
        with DagsterInstance.get() as instance:
            queue = instance.run_coordinator.get_run_queue_config()
        report["run_queue_limits"] = queue.tag_concurrency_limits

    if len(sys.argv) > 1:
        job_name = sys.argv[1]
        with DagsterInstance.ephemeral() as instance:
            result = repository.get_job(job_name).execute_in_process(instance=instance)
        report["executed"] = {job_name: result.success}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
