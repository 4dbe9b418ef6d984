"""The AdminPulse target: its settings and the streams it accepts."""

from __future__ import annotations

from singer_sdk import typing as th
from singer_sdk.target_base import Target

# AdminPulse allows 50 document uploads a minute; the default keeps a margin.
DEFAULT_UPLOADS_PER_MINUTE = 45


class TargetAdminPulse(Target):
    """Writes CAP dates, risk level, ID-card expiry and AMLCare documents to AdminPulse."""

    name = "target-adminpulse"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            default="https://api.adminpulse.be",
            description="AdminPulse API root, without a trailing slash.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            secret=True,
            description="Personal API key (Bearer token) with write scopes.",
        ),
        th.Property(
            "risk_level_map",
            th.ObjectType(additional_properties=th.StringType),
            default={"low": "low", "standard": "normal", "high": "high"},
            description="AMLCare risk level to AdminPulse overall risk.",
        ),
        th.Property(
            "document_type_map",
            th.ObjectType(additional_properties=th.StringType),
            description="AMLCare document kind to AdminPulse document type name.",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=240,
            description="Client-side request budget; AdminPulse allows 480 per token.",
        ),
        th.Property(
            "uploads_per_minute",
            th.IntegerType,
            default=DEFAULT_UPLOADS_PER_MINUTE,
            description="Client-side upload budget; AdminPulse allows 50 uploads a minute.",
        ),
        th.Property(
            "report_dir",
            th.StringType,
            default="output/reports/target-adminpulse",
            description="Folder for the run reports and the rejects file.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default="target-adminpulse",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    default_sink_class = None


if __name__ == "__main__":
    TargetAdminPulse.cli()
