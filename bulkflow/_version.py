"""The installed package's version, from its metadata (pyproject.toml is the one place it is set).

Kept apart from ``bulkflow/__init__.py`` so that nothing inside the package imports the package
itself from below.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bulkflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
