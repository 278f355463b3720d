"""Who may do what: the roles of each operation, in one table that the API (`http.auth.require`)
and the console (`console.signin.page`) both read, so the two can never disagree."""
from __future__ import annotations

# strategies (the price-difference and limit strategy, and the monitoring policy)
STRATEGY_READ = ("pricing_analyst", "pricing_approver", "admin")
STRATEGY_EDIT = ("pricing_analyst",)  # create, edit and submit drafts (the maker)
STRATEGY_APPROVE = ("pricing_approver",)  # approve, activate, schedule, roll back (the checker)
SIMULATE = ("pricing_analyst", "pricing_approver")
EXPERIMENT_RUN = ("pricing_approver",)  # start and stop champion/challenger
EXPERIMENT_READ = ("pricing_analyst", "pricing_approver")
# credit decisions
DECIDE = ("underwriter",)
# read and replay a stored decision (the pricing team follows a simulation to its decisions)
DECISION_READ = ("underwriter", "admin", "pricing_analyst", "pricing_approver")
# in-loan monitoring and channel risk (risk officers)
MONITORING = ("underwriter", "admin")  # runs, alerts, acknowledgements
DEALER_RISK = ("underwriter", "admin")  # risk, proposals of tier changes
DEALER_TIER_DECIDE = ("admin",)  # apply or reject a proposed tier change
# who may sign in to the console: every role but dealers (B-side apps use the API only)
CONSOLE = ("pricing_analyst", "pricing_approver", "admin", "underwriter")
