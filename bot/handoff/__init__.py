"""The handoff to a person at Halmstad direkt: agent logins, the queue, the agent console.

`agents` keeps agent logins (argon2id) and their sessions and presence; `queue` keeps the
conversations waiting for or talking with an agent, the messages left out of hours and the calls
to make, with their internal notes, durably; `service` joins them to the engine (interceptor,
posts, transfer, hand back, heartbeat sweep); `words` and `views` turn the queue's ids into what an
agent reads; `http` is what the agent routes share, `console` (queue, conversation, pages),
`tools` (transfer, notes, hand back, callbacks, typing) and `history` (search) are the routes;
`metrics` counts containment, handoff rate, waits and CSAT; `setup` wires it all.
"""
