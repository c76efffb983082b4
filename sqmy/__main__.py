"""``python -m sqmy`` = the ``sqmy`` console script."""

from sqmy.cli.main import main

raise SystemExit(main())
