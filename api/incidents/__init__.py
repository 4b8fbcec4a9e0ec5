"""Live incidents: request and answer models, the service that owns each transaction (merge a
batch, assemble the timeline, judge, write), the store's plain data operations, the schema and
its migrations."""
