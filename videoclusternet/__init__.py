"""VideoClusterNet: find, track and group by identity every face in a video. Framework-free."""

__version__ = "0.1.0"
