"""HTTP mode: streamable HTTP, bearer validation, the OAuth 2.1 proxy and its storage."""
