"""OAuth flows and the org store."""
