"""The router's parts, by job (private). See docs/architecture.md for the arrows between them:

plan.py       the routing plan built at open(): deployments, candidates, backoff, prices
intake.py     input -> validated request and Run, or a recorded rejection
run.py        one request: the attempt loop execute and stream share
stream.py     the streamed variant and the Stream handle
policy.py     decide(error, context) -> Retry | FallBack | Raise: the failure policy
guard.py      admission per deployment: limiter, 429 cool-down, breaker
recording.py  the store as an observer of the request's life
"""
