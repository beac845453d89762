"""Slack workspaces -> teams, channels, users, messages, thread replies (docs/slack.md)."""
