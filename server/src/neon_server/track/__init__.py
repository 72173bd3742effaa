"""Track: training runs written by neptune-scale, `neon.track` and the neptune-exporter importer."""
