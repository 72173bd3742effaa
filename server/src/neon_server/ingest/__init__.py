"""Ingestion: decode OTLP and native JSON into columns, map conventions, price, buffer and write in batches."""
