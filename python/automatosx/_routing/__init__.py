"""The router's parts, by job (private). See docs/architecture.md for the arrows between them:

plan.py         the routing plan built at open(): routes, candidates, guards, backoff, prices
deployments.py  configurations and adapters -> deployments
intake.py       input -> validated request and Run, or a recorded rejection
run.py          Run: the one owner of a request's state; streamed.py: a stream's transitions
attempt.py      the one attempt loop execute and stream share, and each attempt's deadline
stream.py       the stream wrapper (I/O only) and the Stream handle
hedge.py        hedged first attempts: the race (I/O only)
lost.py         one side of a race that did not win: its guard settled, its attempt kept
policy.py       decide(error, context) -> Decision; machine_events(): the failure policy
admission.py    one attempt's admission chain; guard.py: LocalGuard, the default factory
before.py       pre-request steps (a response cache)
balance.py      load balancing in a group
notify.py       telling the observers; estimate.py: token estimates
recording.py    the store as an observer of the request's life
"""
