"""The outbox: an event is a row committed with the change that caused it, then relayed.

publish.py     publish(): the outbox row, in the caller's transaction; it wakes the relay
relay.py       Relay (one database's outbox -> a transport, rows marked after the ack) and
               run(), the relay loop of `manage.py relay_outbox`
locks.py       one active relay per database: Postgres advisory lock, file lock, thread lock
wakeup.py      what wakes a relay at commit: Postgres LISTEN/NOTIFY, or an in-process kick
in_process.py  the monolith's relay thread inside the web process
"""
