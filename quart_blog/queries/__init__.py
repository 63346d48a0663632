"""Every SQL statement of the app, as typed async functions; ownership lives in the WHERE clause."""
