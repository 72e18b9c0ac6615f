"""The operators' dashboard: static pages under /dashboard that drive the public APIs.

The pages are plain HTML, CSS and JavaScript modules shipped in ``static/`` (no build step, no
asset fetched from the internet). Everything they show comes from the Image, Volume and
Identity APIs with the user's own token; the only dashboard-specific JSON is ``config.json``
(which APIs exist and how to log in) and ``stores.json`` (capacity and usage per store, read
through the library, which the Image API does not expose).
"""
