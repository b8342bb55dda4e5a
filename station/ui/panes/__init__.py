"""The therapist screen's panes, one widget class each (patient, test, results + export, progress)."""
