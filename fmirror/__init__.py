"""fmirror: live file mirroring and failover for Linux."""

__version__ = "0.1.0"
