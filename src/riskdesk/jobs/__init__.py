"""Background jobs: long operations run off the request path, with progress."""
