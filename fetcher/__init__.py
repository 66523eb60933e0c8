"""Reference answer to kata 17: a cancel-safe concurrent URL fetcher."""
