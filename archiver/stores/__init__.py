"""The archive store port and its adapters (local folder, S3)."""
