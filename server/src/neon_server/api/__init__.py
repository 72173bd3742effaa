"""HTTP API: routers by feature. Routers call services and never query a store."""
