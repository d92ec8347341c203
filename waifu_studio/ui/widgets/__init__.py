"""The app's panels; each takes the shared :class:`~waifu_studio.ui.session.Session`."""
