"""Salesforce async client: REST, Bulk API 2.0, Tooling; errors; retries; limits."""
