"""The `cove` command line (its entry point is cove.cli.main)."""
