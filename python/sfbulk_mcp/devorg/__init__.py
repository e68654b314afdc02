"""A local Salesforce-compatible org for tests, demos and CI."""
