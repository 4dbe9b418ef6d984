"""The AMLCare target: its settings and the streams it accepts."""

from __future__ import annotations

from singer_sdk import typing as th
from singer_sdk.target_base import Target


class TargetAMLCare(Target):
    """Creates new clients in AMLCare, links existing ones, and reports what it could not do."""

    name = "target-amlcare"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            required=True,
            description="AMLCare partner API root, including the version segment.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="AMLCare partner API key (Bearer token).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Read and check everything, write nothing, report what would happen.",
        ),
        th.Property(
            "import_statuses",
            th.ArrayType(th.StringType),
            default=["customer"],
            description="AdminPulse relation statuses to import.",
        ),
        th.Property(
            "include_ended_relations",
            th.BooleanType,
            default=False,
            description="Also import relations whose end date has passed.",
        ),
        th.Property(
            "report_dir",
            th.StringType,
            default="output/reports/target-amlcare",
            description="Folder for the run reports and the rejects file.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=600,
            description="Client-side request budget.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="target-amlcare",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    default_sink_class = None


if __name__ == "__main__":
    TargetAMLCare.cli()
