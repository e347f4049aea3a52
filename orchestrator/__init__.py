"""pbxops: maintenance-contract operations for PBX fleets."""

__version__ = "0.1.0"
