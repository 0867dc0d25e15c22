"""Background jobs: long runs in worker processes, never in a request thread.

* :mod:`api.jobs.runner` — the :class:`~api.jobs.runner.JobRunner` the app owns (queue,
  limits, worker processes, progress, cancel, the lease that lets one service process run
  jobs), and what a job process calls to report progress and record its end;
* the job kinds, each a function ``run(db, settings, job_id, params)`` that writes its results
  with the job's success in one transaction: :mod:`api.jobs.partition` (a plan of a dataset)
  and :mod:`api.jobs.dispatch` (worker assignments, patrol routes, party member zones),
  :mod:`api.jobs.editor` (re-balancing a draft in the plan editor), :mod:`api.jobs.visits`
  (household visit calendars).
"""

# Job kinds: "module:function" run in the worker process as function(db, settings, job_id,
# params); the function records success itself, in the transaction that writes its results.
JOB_KINDS = {"partition": "api.jobs.partition:run_partition",
             "assignments": "api.jobs.dispatch:run_assignments",
             "routes": "api.jobs.dispatch:run_routes",
             "party_zones": "api.jobs.dispatch:run_party_zones",
             "plan_rebalance": "api.jobs.editor:run_rebalance",
             "visit_calendar": "api.jobs.visits:run_visit_calendar"}
