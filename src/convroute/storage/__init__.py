"""Storage adapters: the SQL schema, engines for SQLite and PostgreSQL, migrations, the store
and the group committer. Driver errors are translated into ``StorageError`` here, once."""
