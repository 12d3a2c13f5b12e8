"""The loss networks and their weights: where weights live, how each model is loaded, which one a run got."""
