"""Real local servers that stand in for the outside world, for tests and operators' drills:
`fake_x.FakeX` (the X API's POST /2/tweets) and `webhook_sink.WebhookSink` (a media partner).
Run them from the command line with `python -m warnd.testing --help`."""
