"""The setup wizard: steps from the guide, each checked against what the app has seen."""
