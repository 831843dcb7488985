"""Training scripts for the studio's bundled models (not installed with the studio; run from the repository root)."""
