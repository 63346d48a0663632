"""Personal API tokens (SPEC §14): ``Authorization: Bearer`` for scripts and load tests."""
