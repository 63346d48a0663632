"""A second factor (SPEC §12): TOTP, recovery codes, and the login step that asks for them."""
