"""Metadata definitions (Glance's metadefs catalog): namespaces, objects, properties, tags."""
