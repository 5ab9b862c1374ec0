"""The report domain: service requests, their status changes and who follows them
(`reports`), and the counts staff read from them (`stats`, `stats_format`)."""
