"""The sqmy application layer: routing logic, storage, batch jobs and the HTTP API."""
