"""Singer target that writes AMLCare compliance data and documents to AdminPulse."""
