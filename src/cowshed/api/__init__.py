"""HTTP: the Glance Image API v2, as thin handlers over ``cowshed.services``."""
