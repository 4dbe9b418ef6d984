"""Singer target that imports AdminPulse clients into AMLCare."""
