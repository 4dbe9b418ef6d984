"""Dagster definitions: the Meltano project's jobs and schedules, once for every office.

dagster-meltano reads the project's jobs and schedules through the Meltano CLI (`meltano job
list`, `meltano schedule list`) and turns each job into a Dagster job whose ops run
`meltano run <task> --force`. This module repeats each such job for every office (every Meltano
environment named `office-<name>`, see meltano.yml), setting the office's environment and a run
timeout in the ops' configuration, and makes one schedule per office and Meltano schedule.

`--force` is dagster-meltano's: Meltano then never refuses a run because an earlier one of the
same pipeline looks unfinished. So two runs of one office's pipeline must be kept apart here
instead: each schedule skips its tick while a run of its job is queued or running, and every run
carries a tag that a run queue can limit to one at a time (see orchestrate/dagster.yaml). The
timeout (`MELTANO_RUN_TIMEOUT`, Meltano's own `--timeout`) ends a stuck run, so it cannot hold
back the next one for long.

Load it with `dagster dev -f orchestrate/definitions.py` from the orchestrator's virtualenv (see
orchestrate/README.md); nothing here talks to AdminPulse or AMLCare until a job runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    Definitions,
    JobDefinition,
    ResourceDefinition,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from dagster_meltano.meltano_resource import MeltanoResource

PROJECT_ROOT = Path(os.environ.get("AMLSYNC_PROJECT_ROOT", Path(__file__).resolve().parent.parent))
# The project's own Meltano, not one on the orchestrator's PATH: the plugins were installed by it.
MELTANO_BIN = os.environ.get("AMLSYNC_MELTANO_BIN", str(PROJECT_ROOT / ".venv" / "bin" / "meltano"))
OFFICE_PREFIX = "office-"
# Meltano's cron lines are the office's wall-clock times.
TIMEZONE = "Europe/Brussels"
# The longest a run may take before Meltano ends it, per Meltano job. The first import of a large
# office downloads every identity card within AdminPulse's rate limit, which takes hours; later
# nights take minutes. The outbound sync runs every minute and catches up where it stopped.
RUN_TIMEOUT_SECONDS = {"nightly-import": 6 * 3600, "preflight": 2 * 3600, "outbound-sync": 1800}
DEFAULT_RUN_TIMEOUT_SECONDS = 3600
# The tag that keeps one office's runs of one pipeline apart in a run queue.
PIPELINE_TAG = "amlsync/pipeline"
IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def dagster_name(text: str) -> str:
    """A Dagster name (letters, digits, underscores) for a Meltano or office name."""
    return "".join(char if char.isalnum() else "_" for char in text)


def offices(meltano_bin: str, project_root: Path) -> list[str]:
    """The office environments of the Meltano project, as `meltano environment list` gives them."""
    listed = subprocess.run(  # noqa: S603 - a fixed command on the project's own Meltano
        [meltano_bin, "environment", "list"],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [name for name in listed if name.startswith(OFFICE_PREFIX)]


def office_job(job: JobDefinition, meltano_job: str, office: str, meltano: object) -> JobDefinition:
    """dagster-meltano's job for one Meltano job, bound to one office's environment."""
    timeout = RUN_TIMEOUT_SECONDS.get(meltano_job, DEFAULT_RUN_TIMEOUT_SECONDS)
    env = {"MELTANO_ENVIRONMENT": office, "MELTANO_RUN_TIMEOUT": str(timeout)}
    pipeline = f"{office}:{meltano_job}"
    return job.graph.to_job(
        name=f"{dagster_name(office)}__{job.name}",
        description=f"Runs the Meltano job `{meltano_job}` for {office}.",
        resource_defs={"meltano": ResourceDefinition.hardcoded_resource(meltano)},
        config={"ops": {op: {"config": {"env": env}} for op in job.graph.node_dict}},
        tags={PIPELINE_TAG: pipeline},
    )


def office_schedule(name: str, cron: str, job: JobDefinition) -> ScheduleDefinition:
    """A schedule that starts the job at the cron times, unless a run of it is still going."""

    @schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"`{cron}` ({TIMEZONE}); skipped while a run of the job is in progress.",
    )
    def tick(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        going = context.instance.get_run_records(
            filters=RunsFilter(job_name=job.name, statuses=IN_PROGRESS), limit=1
        )
        if going:
            return SkipReason(f"{job.name} is still running (run {going[0].dagster_run.run_id})")
        return RunRequest()

    return tick


def build_definitions(
    project_root: Path = PROJECT_ROOT, meltano_bin: str = MELTANO_BIN
) -> Definitions:
    """Every Meltano job as a Dagster job per office, and every Meltano schedule per office.

    dagster-meltano keeps one `MeltanoResource` per process (its class is a singleton), so the
    first one made, here, is the one its helpers use.
    """
    # First, alone: dagster-meltano then runs two Meltano commands at once, which must not both
    # find a new system database to create.
    office_names = offices(meltano_bin, project_root)
    meltano = MeltanoResource(project_dir=str(project_root), meltano_bin=meltano_bin)
    # One graph per Meltano job, shared by the offices' jobs: Dagster wants one definition a name.
    graphs = {meltano_job.name: meltano_job.dagster_job for meltano_job in meltano.meltano_jobs}
    jobs: list[JobDefinition] = []
    schedules: list[ScheduleDefinition] = []
    for office in office_names:
        by_meltano_name = {}
        for meltano_name, graph_job in graphs.items():
            job = office_job(graph_job, meltano_name, office, meltano)
            by_meltano_name[meltano_name] = job
            jobs.append(job)
        for meltano_schedule in meltano.meltano_schedules:
            schedules.append(
                office_schedule(
                    f"{dagster_name(office)}__{meltano_schedule.dagster_name}",
                    meltano_schedule.cron_interval,
                    by_meltano_name[meltano_schedule.job_name],
                )
            )
    return Definitions(jobs=jobs, schedules=schedules)


defs = build_definitions()
