"""The admin pages' web layer: an aiohttp sub-application mounted at /admin/ by `serve`.

Each module adds one area's routes (module-level handlers, as aiohttp recommends); `app`
holds what they share: who is signed in, CSRF, roles and rendering.
"""
