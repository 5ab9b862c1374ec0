"""The HTTP server: the aiohttp application adapters add their routes to, its rate limit,
and the routes that serve stored photos."""
