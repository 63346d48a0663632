"""Cross-cutting web security policies, one module each: CSRF, redirects, headers, limits."""
