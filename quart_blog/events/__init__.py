"""The security log (SPEC §14): what happened to an account, when, from where."""
