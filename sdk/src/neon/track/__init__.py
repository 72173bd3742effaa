"""`neon.track`: log training runs to Neon (metrics, configs, string series, histograms, tags, files), shaped
like neptune-scale's `Run`, over a compact binary format with an on-disk buffer. See docs/track-sdk.md."""

from neon.track.run import Run, TrackError
from neon.track.sync import SyncResult, sync
from neon.track.values import File, Histogram

__all__ = ["File", "Histogram", "Run", "SyncResult", "TrackError", "sync"]
