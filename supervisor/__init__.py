"""`bosun up`'s process tree: the embedded nats-server and the components, restarted when they die."""
