"""Command-line interface (click). Subcommands load lazily so ``--help`` needs only the core."""
