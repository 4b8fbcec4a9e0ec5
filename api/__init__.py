"""The ways in onto the engine and the services they share.

Ways in: ``http/`` (the HTTP API and the trainer's page) and ``cli/`` (the ``misper`` command);
neither imports the other. Services: ``incidents/`` (live incidents, their store and audit
trail), ``replay/`` (audit replay of historical corpora), ``keys`` (API keys) and ``workers/``
(the processes that evaluate off the server's event loop). ``settings`` holds every MISPER_
variable. Nothing here holds policy logic: that is the engine's and the rules'."""
