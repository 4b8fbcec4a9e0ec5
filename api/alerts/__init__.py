"""Alerts: misper tells a duty's owner before it is due, when it goes due, and someone more senior
when nobody acts (raising.py decides, service.py stores, webhooks.py delivers, dispatcher.py runs
it all on a clock)."""
