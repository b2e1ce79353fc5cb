"""The store adapter: PostgreSQL through psycopg 3 (``db.PostgresStore``), numbered SQL migrations
(``migrate``), and the embedded server behind ``merit up`` (``embedded.start_postgres``)."""
