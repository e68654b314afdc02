"""Type stubs for the compiled engine module."""

__version__: str
