"""The readers source: a Mainflux/Magistrala/SuperMQ readers HTTP service (see source.py).

Nothing is imported here, so a module that needs only this package's constants (the
pipeline's pushdown rules) does not load the HTTP client."""
