"""The steward command line: thin Typer commands over the steps, the demo and the server launcher."""
