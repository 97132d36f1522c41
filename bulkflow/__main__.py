"""``python -m bulkflow``."""

from bulkflow.cli import run

run()
