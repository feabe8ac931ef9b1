"""Studies: small experiments built from the framework's parts (no training loop of their own)."""
