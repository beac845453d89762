"""Boost documentation per release: source archive -> Markdown pages -> vector documents."""
