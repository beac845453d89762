"""Mailing lists archived by HyperKitty (Mailman 3): Boost's lists by default. See docs/mailinglist.md."""
