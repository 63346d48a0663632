"""Your data in your hands (SPEC §14): export everything, or delete the account."""
