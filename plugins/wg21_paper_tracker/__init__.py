"""WG21 papers: the wg21.link index, the open-std.org mailing pages, paper text, GitHub dispatches."""
