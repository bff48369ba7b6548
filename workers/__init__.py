"""Workers on a job queue (procrastinate on PostgreSQL): `nianbao worker` runs any of the queues — poll (crawl
nodes), parse (OCR nodes), alerts, maintenance — on any number of machines sharing one PostgreSQL and one
archive. `nianbao run` (one process, SQLite) stays the default for one machine."""
