"""Singer tap for AdminPulse, the practice management system of Belgian accounting offices."""
