"""`revbot.toml`: the RevOps admin's settings, validated into typed models.

Every invalid value fails at start with one line that names the key and the expected form
(`ConfigError`); with no file at all the defaults below apply, and the demo runs on them.
"""

from __future__ import annotations

import tomllib
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    """A configuration problem, worded for the admin: one line, naming the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


StageStatus = Literal["open", "won", "lost"]
ForecastCategory = Literal["Pipeline", "Best Case", "Commit", "Closed", "Omitted"]
Route = Literal["owner", "team", "cs"]


class Stage(_Strict):
    name: str = Field(min_length=1)
    probability: float = Field(ge=0, le=100, description="percent")
    status: StageStatus = "open"
    forecast_category: ForecastCategory = "Pipeline"


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage(name="Prospecting", probability=10, forecast_category="Pipeline"),
    Stage(name="Qualification", probability=20, forecast_category="Pipeline"),
    Stage(name="Needs Analysis", probability=30, forecast_category="Pipeline"),
    Stage(name="Proposal", probability=50, forecast_category="Best Case"),
    Stage(name="Negotiation", probability=75, forecast_category="Commit"),
    Stage(name="Closed Won", probability=100, status="won", forecast_category="Closed"),
    Stage(name="Closed Lost", probability=0, status="lost", forecast_category="Omitted"),
)


class TeamConfig(_Strict):
    name: str = Field(min_length=1)
    channel: str | None = Field(default=None, description="Slack channel id, e.g. C0123ABCD")
    segment: str | None = None
    region: str | None = None


class PipelineRules(_Strict):
    stalled_after_days: int = Field(default=21, ge=1)
    stalled_stage_multiple: float = Field(default=2.0, gt=0)
    coverage_goal: float = Field(default=3.0, gt=0)


class RenewalRiskWeights(_Strict):
    health: float = Field(default=0.35, ge=0)
    usage_trend: float = Field(default=0.25, ge=0)
    open_tickets: float = Field(default=0.15, ge=0)
    nps: float = Field(default=0.15, ge=0)
    contraction: float = Field(default=0.10, ge=0)


class RenewalRiskConfig(_Strict):
    window_days: int = Field(default=90, ge=1)
    high_risk_score: float = Field(default=60, ge=0, le=100)
    weights: RenewalRiskWeights = RenewalRiskWeights()


class AccessConfig(_Strict):
    cs_can_see_amounts: bool = False


class FreshnessConfig(_Strict):
    stale_after_hours: float = Field(default=36, gt=0)


class DigestSchedule(_Strict):
    enabled: bool = True
    cron: str = Field(description="crontab: minute hour day month day-of-week, in the configured zone")
    channel: str | None = None


class DigestsConfig(_Strict):
    monday: DigestSchedule = DigestSchedule(cron="0 8 * * mon")
    team: DigestSchedule = DigestSchedule(cron="0 8 * * mon")
    rep_daily: DigestSchedule = DigestSchedule(enabled=False, cron="30 7 * * mon-fri")
    rep_daily_opt_in: tuple[str, ...] = Field(default=(), description="emails of reps who want the DM")
    grace_hours: float = Field(default=6, ge=0)
    admin_channel: str | None = None
    template_dir: str | None = Field(default=None, description="folder of Jinja2 overrides")
    charts: bool = Field(default=True, description="upload PNG charts with the weekly digests")

    @field_validator("rep_daily_opt_in", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return tuple(str(v).lower() for v in value) if isinstance(value, list | tuple) else value


class AlertRule(_Strict):
    enabled: bool = True
    route: Route = "owner"
    cooldown_hours: float | None = Field(default=None, ge=0)
    days: int | None = Field(default=None, ge=0)
    min_amount: float | None = Field(default=None, ge=0)
    min_drop_percent: float | None = Field(default=None, ge=0, le=100)
    min_risk: float | None = Field(default=None, ge=0, le=100)
    below: float | None = Field(default=None, ge=0)


def _default_rules() -> dict[str, AlertRule]:
    return {
        "stalled_deal": AlertRule(route="owner", days=21),
        "overdue_close_date": AlertRule(route="owner"),
        "slipped_close_date": AlertRule(route="owner", days=7),
        "big_deal": AlertRule(route="team", min_amount=100_000),
        "stage_regression": AlertRule(route="owner", days=7),
        "amount_drop": AlertRule(route="owner", min_drop_percent=20, days=7),
        "renewal_risk": AlertRule(route="cs", days=90, min_risk=60),
        "low_coverage": AlertRule(route="team", below=2.0),
    }


ALERT_RULE_NAMES = tuple(_default_rules())


class AlertsConfig(_Strict):
    interval_minutes: int = Field(default=30, ge=1)
    cooldown_hours: float = Field(default=72, ge=0)
    batch_threshold: int = Field(default=5, ge=1)
    send_recovery: bool = True
    cs_channel: str | None = None
    rules: dict[str, AlertRule] = Field(default_factory=_default_rules)

    @field_validator("rules", mode="before")
    @classmethod
    def _merge_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(ALERT_RULE_NAMES))
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; known rules: {', '.join(ALERT_RULE_NAMES)}")
        merged: dict[str, Any] = {name: rule.model_dump() for name, rule in _default_rules().items()}
        for name, override in value.items():
            if isinstance(override, dict):
                merged[name] = {**merged[name], **override}
            else:
                merged[name] = override
        return merged


class SalesforceConfig(_Strict):
    instance_url: str | None = None
    domain: str = "login"
    api_version: str = "59.0"
    overlap_minutes: int = Field(default=5, ge=0)


class HubSpotConfig(_Strict):
    api_base_url: str = "https://api.hubapi.com"
    overlap_minutes: int = Field(default=5, ge=0)
    portal_id: str | None = None


class CrmConfig(_Strict):
    sync_interval_minutes: int = Field(default=60, ge=1)
    salesforce: SalesforceConfig = SalesforceConfig()
    hubspot: HubSpotConfig = HubSpotConfig()


class TargetConfig(_Strict):
    email: str | None = None
    team: str | None = None
    period: str = Field(description="e.g. 2026-Q3 or FY2026")
    amount: float = Field(ge=0)
    metric: str = "bookings"

    @model_validator(mode="after")
    def _one_owner(self) -> TargetConfig:
        if (self.email is None) == (self.team is None):
            raise ValueError("give exactly one of email or team")
        return self


class RevbotConfig(_Strict):
    timezone: str = "America/New_York"
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    fx_rates: dict[str, float] = Field(
        default_factory=lambda: {"EUR": 1.08, "GBP": 1.27},
        description="units of reporting currency for one unit of the named currency",
    )
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    teams: tuple[TeamConfig, ...] = ()
    roles: dict[str, Literal["rep", "manager", "exec", "revops", "cs"]] = Field(default_factory=dict)
    targets: tuple[TargetConfig, ...] = ()
    targets_csv: str | None = None
    pipeline: PipelineRules = PipelineRules()
    renewal_risk: RenewalRiskConfig = RenewalRiskConfig()
    access: AccessConfig = AccessConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    digests: DigestsConfig = DigestsConfig()
    alerts: AlertsConfig = AlertsConfig()
    crm: CrmConfig = CrmConfig()

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin") from exc
        return value

    @field_validator("fx_rates")
    @classmethod
    def _valid_rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isalpha() or not code.isupper():
                raise ValueError(f"currency code {code!r} must be three capital letters, like EUR")
            if rate <= 0:
                raise ValueError(f"rate for {code} must be a positive number")
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _lower_emails(cls, value: Any) -> Any:
        return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _stages_consistent(self) -> RevbotConfig:
        names = [s.name for s in self.stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stages: duplicate stage name {duplicates[0]!r}")
        statuses = {s.status for s in self.stages}
        if not {"open", "won", "lost"} <= statuses:
            raise ValueError("stages: need at least one open, one won and one lost stage")
        return self

    # --- derived lookups -------------------------------------------------------------------

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage(self, name: str) -> Stage | None:
        folded = name.strip().casefold()
        return next((s for s in self.stages if s.name.casefold() == folded), None)

    def stage_order(self, name: str) -> int:
        """Position in the funnel; won/lost stages sort after every open one."""
        for index, stage in enumerate(self.stages):
            if stage.name == name:
                return index
        return len(self.stages)

    def fx_rate(self, currency: str | None) -> float:
        """Units of reporting currency for one unit of `currency`."""
        if not currency or currency == self.reporting_currency:
            return 1.0
        try:
            return self.fx_rates[currency]
        except KeyError as exc:
            raise ConfigError(
                f"fx_rates: no rate for {currency}; add `{currency} = <rate>` under [fx_rates]"
            ) from exc


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against revbot.example.toml)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("value_error",):
        message = f"{message}, got {error['input']!r}"
    return f"revbot.toml: `{key}`: {message.removeprefix('Value error, ')}"


def parse_config(data: dict[str, Any]) -> RevbotConfig:
    try:
        return RevbotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None


def load_config(path: str | Path | None = None) -> RevbotConfig:
    """Load and validate the config; a missing file means all defaults."""
    if path is None:
        from storage.settings import get_settings

        path = get_settings().revbot_config
    file = Path(path)
    if not file.exists():
        return RevbotConfig()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    return parse_config(data)
