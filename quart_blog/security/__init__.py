"""Security policies, one module each: passwords, tokens, CSRF, redirects, headers, limits."""
