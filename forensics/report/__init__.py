"""Stage 5: what people open: CSV and JSON evidence files, the manifest, charts, HTML."""
