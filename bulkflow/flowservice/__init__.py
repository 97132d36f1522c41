"""The only code that speaks HTTP to Adobe: settings, client, retries, auth, pacing, queries."""
