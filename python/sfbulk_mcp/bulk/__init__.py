"""Bulk export and import pipelines."""
