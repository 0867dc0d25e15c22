"""The service's routers, one per resource: each endpoint parses its request, names the
action its caller needs (api.auth.PERMISSIONS), calls a service (api.services) and answers
its response model (api.schemas) or GeoJSON, GPX, HTML as the resource is."""
