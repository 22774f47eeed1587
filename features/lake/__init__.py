"""The lake: canonical tables as Parquet with a manifest, local or at an object-store URI; row validation; moderation decisions."""
