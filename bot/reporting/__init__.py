"""The report domain: service requests, their status changes and who follows them
(`reports`), and the counts staff read from them (`stats`, `stats_format`; `places` and
`medians` are how those counts stay SQL at a million reports)."""
