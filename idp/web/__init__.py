"""Cross-cutting web plumbing: proxies, headers, language, logs, error pages."""
