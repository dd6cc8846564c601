"""The handoff to a person at Halmstad direkt: agent logins, the queue, the agent console.

`agents` keeps agent logins (argon2id) and their sessions and presence; `queue` keeps the
conversations waiting for or talking with an agent and the messages left out of hours, durably;
`service` joins them to the engine (interceptor, posts, heartbeat sweep); `console` serves the
agent API and pages; `metrics` counts containment, handoff rate, waits and CSAT; `setup` wires it all.
"""
