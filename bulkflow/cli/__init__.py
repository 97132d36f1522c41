"""The ``bulkflow`` command: one module per command family, flags, exit codes, console."""
