"""Identity: the people every tracker sees (``person_profiles``), recorded the same way by all.

Trackers store the source's own actor id and write profiles through :func:`upsert_profiles`
in their batch's transaction; linking profiles into people is a separate job.
"""

from core.identity.profiles import Profile, ProfileEmail, email_sha256, ensure_identity, upsert_profiles
from core.identity.tables import COMPONENT, IDENTITY_MIGRATIONS, person_profiles, profile_emails

__all__ = [
    "COMPONENT",
    "IDENTITY_MIGRATIONS",
    "Profile",
    "ProfileEmail",
    "email_sha256",
    "ensure_identity",
    "person_profiles",
    "profile_emails",
    "upsert_profiles",
]
