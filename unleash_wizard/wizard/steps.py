"""The wizard's steps, in the order of the "Set up Entra provisioning" guide.

Each step names the check that tells, from what the app has seen, whether it
is done. The words are ours: short, plain, addressed to the admin.
"""

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from . import checks
from .checks import Status

HERE = "In this app"
ENTRA = "In Microsoft Entra"


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    title: str
    where: str
    instruction: str
    check: Callable[[Session], Status]


STEPS: tuple[Step, ...] = (
    Step(
        0,
        "lockout",
        "Keep a way in",
        HERE,
        "Once Entra manages your users, make sure you can still get in without it: keep at "
        "least one local admin who signs in here with a password.",
        checks.check_lockout,
    ),
    Step(
        1,
        "scim-tab",
        "Find the SCIM settings",
        HERE,
        "Open Single Sign-On and choose the SCIM tab. It shows the SCIM API URL that Entra "
        "needs later.",
        checks.check_scim_tab,
    ),
    Step(
        2,
        "enable",
        "Switch SCIM on",
        HERE,
        "On the SCIM tab, switch SCIM on. You get a token for Entra, shown only once: copy it "
        "and keep it for step 4.",
        checks.check_scim_on,
    ),
    Step(
        3,
        "entra-app",
        "Open provisioning in Entra",
        ENTRA,
        "In the Microsoft Entra admin center, go to Enterprise applications, open the app you "
        "use to sign in to this one, and choose Provisioning.",
        checks.check_entra_app,
    ),
    Step(
        4,
        "connect",
        "Connect Entra",
        ENTRA,
        "Set the provisioning mode to Automatic. Under Admin Credentials, paste the Tenant URL "
        "and the Secret Token, click Test connection, then Save.",
        checks.check_connection,
    ),
    Step(
        5,
        "mappings",
        "Keep only four mappings",
        ENTRA,
        "Under Mappings, open Provision Microsoft Entra ID Users. Delete every attribute "
        "mapping except userName, displayName, emails and externalId, take the work email "
        "from userPrincipalName, and Save.",
        checks.check_mappings,
    ),
    Step(
        6,
        "provision",
        "Turn provisioning on",
        ENTRA,
        "Back on the Provisioning overview, set Provisioning Status to On and Save. From then "
        "on Entra provisions by itself, on its own schedule.",
        checks.check_provisioning,
    ),
)

BY_SLUG = {step.slug: step for step in STEPS}


def find(slug: str) -> Step | None:
    """Return the step with this slug, or None."""
    return BY_SLUG.get(slug)


def evaluate(session: Session) -> list[Status]:
    """Return every step's status, in step order."""
    return [step.check(session) for step in STEPS]


def next_step(statuses: Sequence[Status]) -> Step | None:
    """Return the first unfinished step, or None once setup is complete."""
    return next(
        (step for step, status in zip(STEPS, statuses, strict=True) if not status.done), None
    )


def reachable(step: Step, statuses: Sequence[Status]) -> bool:
    """Return whether the admin may open step now.

    Steps up to the first unfinished one are open; so is any step the app has
    already seen something for (done, or needing attention), so a link from the
    overview never bounces.
    """
    current = next_step(statuses)
    if current is None or step.number <= current.number:
        return True
    return statuses[step.number].state != checks.WAITING
