"""AdminPulse and AMLCare, played over HTTP on loopback for the amlsync connectors."""

__version__ = "0.1.0"
