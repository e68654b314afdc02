"""The `sfbulk` command."""
