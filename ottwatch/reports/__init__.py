"""Reports an investigator or a compliance officer files: `incident` (a user, ring, IP
or alert), `compliance` (a period, per regulation) and `models`. Each is built as plain
data from what storage returns, then written as Markdown, HTML or JSON."""
