"""The metadata definitions catalog of the Image API v2 (``/v2/metadefs``)."""
