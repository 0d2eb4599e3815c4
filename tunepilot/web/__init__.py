"""The review surface: the run view, plots, report.html and the local web app (`tunepilot ui`)."""
