"""``python -m bulkflow``."""

from bulkflow.cli.main import run

run()
