"""The built-in community simulator: synthetic members, events and labelled posts."""
