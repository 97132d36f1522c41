"""The job file and everything read from it: changes, targets, templates, secrets, checks."""
