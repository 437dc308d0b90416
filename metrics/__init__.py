"""Revenue analytics: pure functions over DataFrames and a `Period`. No Slack, no sessions, no I/O.

Every number revbot reports comes from here; docs/metrics.md defines each one and names the source
definition it follows. Zero denominators give None ("n/a"), empty frames give zeros, and money is in
the reporting currency (`config.reporting_currency`, rates from `config.fx_rate`).

Typical use (commands and digests):

    from metrics.periods import parse_period, local_today
    from metrics.pipeline import pipeline_summary
    from metrics.revenue import attainment, forecast, target_for_period
    from storage import queries

    today = local_today(config.zone)
    period = parse_period(text, today=today, fiscal_year_start_month=config.fiscal_year_start_month)
    deals = queries.load_pipeline_deals(session, scope, period)   # open + closed/created in period
    summary = pipeline_summary(deals, period=period, config=config, today=today)
    target = target_for_period(queries.load_targets(session, period=period, user_ids=[rep_id]), period)
    result = attainment(deals, period=period, target=target, config=config, today=today)
    outlook = forecast(deals, period, config=config)

Modules:
- `periods`: `Period(label, start, end)` (`.key`, `.contains`, `.days`, `.elapsed_days`), `parse_period`,
  `PeriodError`, `looks_like_period`, `fiscal_quarter`, `fiscal_year`, `previous_period`, `local_today`.
- `pipeline`: `pipeline_summary` → `PipelineSummary`, `pipeline_by_stage`, `pipeline_by_forecast_category`,
  `past_due_deals`, `stalled_deals` (with a `reason` column), `by_stage_from_aggregate` (for SQL groups).
- `revenue`: `attainment` → `Attainment`, `forecast` → `Forecast` (cumulative), `target_for_period`,
  `closed_won`, `run_rate_projection`, `forecast_from_aggregate`, `ratio`.
- `money`: `to_reporting` / `with_amount_rc` (adds `amount_rc`), cent-exact sums.
- `frames`: `prepare_deals` (normalises hand-built or loaded frames).

Loaders live in `storage.queries` (scope-filtered in SQL; see its docstring for columns and dtypes).
"""
