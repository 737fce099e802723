"""Reports: tables, figures, Markdown, HTML and JSON."""
