"""The newsfeed tracker: stories and comments of a Hacker News-style JSON API.

The worked example of docs/tutorial-new-source.md: a whole source in a few declarations on
the framework (HTTP source kit, declared streams, identity, vector documents).
"""
