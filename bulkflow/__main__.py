"""``python -m bulkflow``."""

from bulkflow.cli import main

raise SystemExit(main())
