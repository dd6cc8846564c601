"""What several `serve` processes share through one Redis besides conversations (issue 17):
the handoff queue, presence and console sessions, the consoles' and widgets' pushes, rate limits,
the data-rights outbox and the staff's sessions. `state.SharedState` makes them; `bus` is the
change stream every process follows; bot/app.py plugs them in when `--redis-url` is given.
"""
