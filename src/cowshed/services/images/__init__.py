"""The image service: catalog records, data, imports (Glances Image API v2 semantics)."""
