"""Event streams (SPEC §3): a user's live feed of the audit entries they may see, read by
cursor (`/events/`) or pushed as Server-Sent Events (`/sse/`) by one listener per process
(`hub`)."""
