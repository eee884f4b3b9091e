"""``python -m serve.cli``: the ``autoquote`` command."""

from serve.cli.main import main

raise SystemExit(main())
