"""What a run leaves behind: the result log (and reading it again), saved plans, reports."""
