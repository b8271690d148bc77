"""OAuth 2.0 grants: each a small subclass filling authlib's hooks."""
