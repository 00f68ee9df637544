"""Project config and client manifests: strict models, layering, errors with file:line."""
