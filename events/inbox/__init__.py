"""The inbox side: what happens to an event a consumer received — every transport ends here, so
the monolith exercises the same delivery semantics as the split deployment.

  apply.py         apply(): the handler's writes and its inbox row in one transaction, so a
                   redelivered event is a no-op; apply_batch(): a whole poll in one transaction
  deliver.py       deliver(): apply() with retries and backoff, parking what never succeeds
  dead_letters.py  park() a failing event with its error; replay() it once the cause is fixed
"""
