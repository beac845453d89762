"""The newsfeed tracker (a Hacker News-style API): the worked example of docs/tutorial-new-source.md."""
