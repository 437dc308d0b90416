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

Faster for big books (numbers from one GROUP BY, rows only for the lists shown; tested equal):

    medians = stage_age_medians(queries.open_stage_ages_sql(session, scope), today=today)
    rollup = queries.pipeline_rollup_sql(session, scope, period, today=today, rules=config.pipeline,
                                         stage_medians=medians)
    summary = summary_from_rollup(rollup, past_due=queries.past_due_rows_sql(session, scope, today=today),
                                  stalled=queries.stalled_rows_sql(session, scope, today=today,
                                      rules=config.pipeline, stage_medians=medians),
                                  period=period, config=config, today=today, stage_medians=medians)
    result = attainment_from_rollup(rollup, period=period, target=target, config=config, today=today)
    outlook = forecast_from_aggregate(rollup[rollup["closing"]], period, config=config)

Org-wide: `by_stage_from_aggregate(queries.pipeline_by_stage_sql(...))` and `attainment_by_team(
owner_rollup(queries.deals_by_owner_sql(won_only=True, ...), queries.deals_by_owner_sql(open_only=True,
...)), queries.load_users(session), queries.load_targets(...), ...)`; the three scans are independent,
so `storage.database.read_concurrently` can run them at once.

The slash commands' path (no pandas for one rep's numbers): `queries.pipeline_groups_sql` →
`summary_from_groups` / `attainment_from_groups` / `forecast_from_groups`, the listed deals from
`queries.top_stalled_rows_sql` / `top_past_due_rows_sql` through `stalled_records` / `past_due_records`,
the target from `queries.load_target_rows` → `target_from_rows` (see `commands/pipeline.py`).

Modules:
- `periods`: `Period(label, start, end)` (`.key`, `.contains`, `.days`, `.elapsed_days`), `parse_period`,
  `PeriodError`, `looks_like_period`, `fiscal_quarter`, `fiscal_year`, `previous_period`, `local_today`.
- `pipeline`: `pipeline_summary` → `PipelineSummary`, `pipeline_by_stage`, `pipeline_by_forecast_category`,
  `past_due_deals`, `stalled_deals` (with a `reason` column), `stage_age_medians`, `by_stage_from_aggregate`,
  `summary_from_rollup` (SQL fast path).
- `revenue`: `attainment` → `Attainment`, `forecast` → `Forecast` (cumulative), `target_for_period`,
  `closed_won`, `run_rate_projection`, `forecast_from_aggregate`, `attainment_from_rollup`,
  `attainment_by_team`, `owner_rollup`, `ratio`.
- `velocity`: `velocity` → `Velocity` (win rates, deal size, cycle, sales velocity), `stage_conversion`,
  `time_in_stage`, `median_days_in_stage` (feed to `stalled_deals`).
- `movement`: `pipeline_bridge` → `Bridge` (start, end, `movements[name]` = Movement(count, delta, amount),
  `deals` per-deal table; start + Σ delta == end to the cent), `state_at`.
- `retention`: `mrr_on`, `arr_on`, `mrr_by_account_on`, `mrr_movements` → `MrrMovements`, `retention` →
  `Retention` (NRR, GRR, logo churn), `nrr`, `grr`, `logo_churn`, `renewals_due`, `renewal_risk`.
- `volume`: `target_account_penetration`, `by_source`.
- `money`: `to_reporting` / `with_amount_rc` (adds `amount_rc`), cent-exact sums.
- `frames`: `prepare_deals` (normalises hand-built or loaded frames).

Loaders live in `storage.queries` (scope-filtered in SQL; see its docstring for columns and dtypes).
"""
