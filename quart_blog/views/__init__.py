"""HTML blueprints, one per feature."""
