"""The Reddit tracker: subreddits' submissions and comments through app-only OAuth (docs/reddit.md)."""
