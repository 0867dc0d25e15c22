"""dispatch: grid workers to grids (CP-SAT), party members to households (min-cost flow),
street patrols (rural postman), visit routes and routing benchmarks (OR-Tools RoutingModel), and
incidents from report to closing. Metric CRS of the walk network in, plain data and
GeoDataFrames out; distances in walking metres."""
