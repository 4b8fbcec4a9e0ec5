"""Audit replay: judge a corpus of historical incidents as an inspection would (``runner``), in
bounded memory (``summary``), report it as one HTML file (``report``), and a synthetic corpus to
try it on (``synth``)."""
