"""Use cases. Routers call services; services call stores."""
