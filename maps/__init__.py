"""Folium maps of grids, zones, incidents and routes; filled in by later work."""
