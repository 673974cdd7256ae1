"""The I/O layer under the tasks: connections to Redis (URLs, TLS, credentials), cluster masters and slot routing,
RESP pipelining for the hot paths, the retry policy of I/O tasks, and throwaway local redis-server processes.
Nothing here knows about migrations; everything in tasks/ that talks to Redis goes through it."""
