"""The explorer's state as small Qt-free models with events (psygnal), one module per concern.

Panels in ``ui/`` are views of these models: they connect to the models' events and write user
actions back into them. Tests drive the models and read what the widgets show. Nothing here
imports Qt (a test checks it), so the state can be saved, restored and tested without a window.
"""
