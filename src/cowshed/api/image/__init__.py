"""The Image API v2 (Glance) handlers, mounted at the root and under /image."""
