"""Singer tap for the AMLCare partner API."""
