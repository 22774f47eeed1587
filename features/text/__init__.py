"""Text logic shared by training and serving: normalisation, language, and the toxicity corpora readers."""
