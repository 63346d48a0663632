"""Passkeys (SPEC §12): WebAuthn credentials that sign in on their own, as both factors."""
