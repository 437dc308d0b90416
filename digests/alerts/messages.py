"""Alert messages: the alert with its buttons, the batch summary, the recovery note.

Button `action_id`s are the contract with `bot/listeners/alert_actions.py`; each button's `value`
is the `alert_events.id`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment

from commands.rendering import Message, Mrkdwn, escape_mrkdwn, render, user_mention

ACK = "revbot_alert_ack"
SNOOZE_1D = "revbot_alert_snooze_1d"
SNOOZE_7D = "revbot_alert_snooze_7d"
OPEN_CRM = "revbot_alert_open_crm"
SNOOZE_DAYS = {SNOOZE_1D: 1, SNOOZE_7D: 7}

RULE_LABELS = {
    "stalled_deal": "Stalled deal",
    "overdue_close_date": "Overdue close date",
    "slipped_close_date": "Close date slipped",
    "big_deal": "Big deal",
    "stage_regression": "Stage regression",
    "amount_drop": "Amount drop",
    "renewal_risk": "Renewal risk",
    "low_coverage": "Low pipeline coverage",
}
ICONS = {"renewal_risk": ":warning:", "low_coverage": ":chart_with_downwards_trend:", "big_deal": ":moneybag:"}


@dataclass(frozen=True)
class AlertView:
    """What an alert message shows; built from an `alert_events` row."""

    id: int
    rule: str
    title: str
    subject_type: str | None
    state: str
    details: dict[str, Any] = field(default_factory=dict)
    crm_url: str | None = None
    acknowledged_by: str | None = None
    snoozed_until_label: str | None = None


def _status_line(view: AlertView) -> Mrkdwn | None:
    """Built from a validated Slack id and revbot's own date text, so it is trusted mrkdwn."""
    if view.state == "acknowledged" and view.acknowledged_by:
        return Mrkdwn(f"Acknowledged by {user_mention(view.acknowledged_by, view.acknowledged_by)}")
    if view.state == "snoozed" and view.snoozed_until_label:
        return Mrkdwn(f"Snoozed until {escape_mrkdwn(view.snoozed_until_label)}")
    if view.state == "resolved":
        return Mrkdwn("Resolved")
    return None


def buttons(view: AlertView) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    if view.state in ("open", "snoozed"):
        elements.append(_button("Acknowledge", ACK, view.id, style="primary"))
    if view.state in ("open", "acknowledged", "snoozed"):
        elements.append(_button("Snooze 1 day", SNOOZE_1D, view.id))
        elements.append(_button("Snooze 7 days", SNOOZE_7D, view.id))
    if view.crm_url and view.crm_url.startswith(("https://", "http://")):
        elements.append({**_button("Open in CRM", OPEN_CRM, view.id), "url": view.crm_url[:3000]})
    return {"type": "actions", "block_id": f"revbot_alert_{view.id}", "elements": elements}


def _button(label: str, action_id: str, alert_id: int, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": str(alert_id),
    }
    if style:
        button["style"] = style
    return button


def render_alert(env: Environment, view: AlertView, *, reason: str = "", currency: str = "USD",
                 show_amount: bool = True) -> Message:
    status = _status_line(view)
    extra = [buttons(view)]
    if not extra[0]["elements"]:
        extra = []
    label = RULE_LABELS.get(view.rule, view.rule)
    return render(
        env,
        "alert.j2",
        fallback=f"{label}: {view.title}",
        extra_blocks=extra,
        alert=view,
        title=view.title,
        icon=ICONS.get(view.rule, ":bell:"),
        rule_label=label,
        reason={"worse": "got worse", "recurred": "back again", "snooze over": "snooze ended"}.get(reason, ""),
        status_line=status,
        currency=currency,
        show_amount=show_amount,
    )


def render_summary(env: Environment, views: list[AlertView], where: str) -> Message:
    counts = Counter(RULE_LABELS.get(v.rule, v.rule) for v in views)
    return render(env, "alert_summary.j2", fallback=f"{len(views)} new alerts for {where}",
                  count=len(views), where=where, by_rule=sorted(counts.items()))


def render_recovery(env: Environment, view: AlertView) -> Message:
    return render(env, "alert_recovery.j2", fallback=f"Resolved: {view.title}", title=view.title)
