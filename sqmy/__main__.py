"""``python -m sqmy`` = the ``sqmy`` console script."""

from sqmy.cli import main

raise SystemExit(main())
