"""The YouTube tracker: channel uploads, playlists and search discovery (Data API v3), and talk transcripts."""
