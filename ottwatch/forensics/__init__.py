"""Forensics over recorded logs: time windows and filters, rule hit counts, expectations
a replay must meet, what-if comparisons and reports. Pure computations; the commands
read the log and the database."""
