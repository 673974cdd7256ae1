"""Sign-off gates of the checklist: who must approve what, and what their answers add up to (pure)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["Technical Lead", "Database Administrator", "Operations Manager", "Business Stakeholder"]
ROLES: tuple[Role, ...] = ("Technical Lead", "Database Administrator", "Operations Manager", "Business Stakeholder")
Gate = Literal["go-no-go", "acceptance", "final"]
GATES: tuple[Gate, ...] = ("go-no-go", "acceptance", "final")
Decision = Literal["approve", "reject"]
GateOutcome = Literal["approved", "rejected", "timed_out"]

AUTOMATIC_APPROVER = "automatic (rehearsal)"


class GateRoles(BaseModel):
    """Roles that must each approve a gate (in this order); a gate with no roles passes on its own."""

    go_no_go: list[Role] = Field(
        default_factory=lambda: ["Technical Lead", "Database Administrator"],
        description="go/no-go before the first write",
    )
    acceptance: list[Role] = Field(
        default_factory=lambda: ["Database Administrator"],
        description="acceptance after verification (a rejection rolls the data back exactly)",
    )
    final: list[Role] = Field(
        default_factory=lambda: list(ROLES), description="final sign-off with the checklist's final notes"
    )

    def for_gate(self, gate: Gate) -> list[Role]:
        return list(getattr(self, gate.replace("-", "_")))


# The checklist items only a person can do, each a checkbox in the form of the gate where it is due: (key, text).
CONFIRMATIONS: dict[Gate, list[tuple[str, str]]] = {
    "go-no-go": [
        ("stakeholders_informed", "Development, operations, support and business stakeholders informed"),
        ("traffic_stopped", "Maintenance window started, application traffic stopped or redirected"),
        ("staging_mirrors_production", "Staging environment mirrors production"),
        ("upgraded_in_staging", "Application upgraded to Redis OM Python 1.x in staging and found compatible"),
        ("staging_rehearsed", "Migration, application and rollback rehearsed in staging (the staging rehearsal)"),
        ("alerting_adjusted", "Alerting thresholds adjusted for the migration period"),
    ],
    "acceptance": [("application_tested", "Application started and tested with the migrated data")],
    "final": [
        ("acceptance_testing", "Full application functionality, business logic and user acceptance tested"),
        ("monitoring_restored", "Monitoring thresholds and alerting rules restored"),
    ],
}
CONFIRMATION_GATE: dict[str, Gate] = {key: gate for gate, items in CONFIRMATIONS.items() for key, _ in items}


class SignOff(BaseModel):
    """One person's answer at one gate, as recorded in the report and the checklist artifact."""

    gate: Gate
    role: Role
    name: str
    decision: Decision
    comment: str = ""
    at: str = Field(description="ISO 8601 UTC time the answer was received")
    issues_encountered: str = ""
    lessons_learned: str = ""
    recommendations: str = ""
    confirmed: list[str] = Field(default_factory=list, description="keys of the gate's CONFIRMATIONS ticked")


def confirmations_ticked(gate: Gate, answer: dict[str, object]) -> list[str]:
    """The keys of the gate's confirmations a form answer ticked (a box left out or unticked is not confirmed)."""
    return [key for key, _text in CONFIRMATIONS[gate] if answer.get(key) is True]


def confirmation_status(key: str, signoffs: list[SignOff]) -> tuple[bool, str]:
    """(confirmed, the checklist's words): who ticked it and when, who left it open, or the gate still to come."""
    gate = CONFIRMATION_GATE[key]
    answers = [s for s in signoffs if s.gate == gate]
    ticked = [s for s in answers if key in s.confirmed]
    if ticked:
        return True, "confirmed by " + "; ".join(f"{s.name} ({s.role}) at {s.at}" for s in ticked)
    if not answers:
        return False, f"not confirmed: the {gate} gate was not reached"
    return False, "not confirmed: left open by " + "; ".join(f"{s.name} ({s.role}) at {s.at}" for s in answers)


def missing_roles(required: list[Role], signoffs: list[SignOff], gate: Gate) -> list[Role]:
    """Required roles that have not approved this gate yet, in order."""
    approved = {s.role for s in signoffs if s.gate == gate and s.decision == "approve"}
    return [role for role in required if role not in approved]


def gate_outcome(required: list[Role], signoffs: list[SignOff], gate: Gate) -> GateOutcome | None:
    """Rejected as soon as any required role rejects; approved when every required role approved."""
    for signoff in signoffs:
        if signoff.gate == gate and signoff.decision == "reject" and signoff.role in required:
            return "rejected"
    return None if missing_roles(required, signoffs, gate) else "approved"


def parse_gate_roles(specs: list[str]) -> GateRoles:
    """`GATE=ROLE[,ROLE]` items (from the command line) over the default roles; "final=" means nobody."""
    from om_runbook.migrations.errors import ConfigurationError

    values = GateRoles().model_dump()
    for spec in specs:
        gate, sep, roles_text = spec.partition("=")
        if not sep or gate.strip() not in GATES:
            raise ConfigurationError(f"--roles {spec!r}: expected GATE=ROLE[,ROLE] with GATE one of {', '.join(GATES)}")
        roles = [role.strip() for role in roles_text.split(",") if role.strip()]
        unknown = [role for role in roles if role not in ROLES]
        if unknown:
            raise ConfigurationError(f"--roles {spec!r}: unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
        values[gate.strip().replace("-", "_")] = roles
    return GateRoles(**values)
